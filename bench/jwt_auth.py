"""What authenticating a request with a JWT costs the gateway, in microseconds per request.

    .venv/bin/python bench/jwt_auth.py [--seconds 1]

For RS256 (RSA 2048), ES256 (P-256) and EdDSA (Ed25519) tokens, with the provider's key set
already fetched: a token seen before (the verified-token cache: the cost every request after the
first pays) and a token verified from scratch each time (``token_cache: 0``: header, key lookup,
signature, claims). Runs in one process on one core, no network. Target: ≤ 50 µs per request
with a cached key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import pin_to_core

if TYPE_CHECKING:
    from claudegate.gateway.core._jwt import JwtVerifier

ISSUER = "https://idp.bench/"


def signing_keys() -> dict[str, tuple[Any, dict[str, Any]]]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    return {
        "RS256": (rsa_key, RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)),
        "ES256": (ec_key, ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)),
        "EdDSA": (ed_key, OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True)),
    }


async def per_request(verifier: JwtVerifier, token: str, seconds: float) -> float:
    """Microseconds per ``looks_like_jwt`` + ``principal`` (the gateway's JWT path), over ``seconds``."""
    from claudegate.gateway.core._auth import looks_like_jwt

    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            if looks_like_jwt(token):
                await verifier.principal(token)
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return (now - started) / count * 1e6


async def run(seconds: float) -> None:
    import jwt
    import orjson

    from claudegate.gateway._config import JwtConfig
    from claudegate.gateway.core._jwt import JwtVerifier

    keys = signing_keys()
    document = orjson.dumps({"keys": [{**jwk, "kid": alg} for alg, (_, jwk) in keys.items()]})

    async def fetch(url: str, timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        return 200, {"cache-control": "max-age=3600"}, document

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "claudegate", "sub": "bench-user", "iat": now, "exp": now + 3600}
    print(f"{'algorithm':<10}{'cached token µs':>18}{'uncached token µs':>20}")
    for alg, (private, _) in keys.items():
        token = jwt.encode(claims, private, algorithm=alg, headers={"kid": alg})
        figures = []
        for cache in (10_000, 0):
            url = "https://idp.bench/jwks.json"
            config = JwtConfig(jwks_url=url, issuer=ISSUER, audience="claudegate", token_cache=cache)
            verifier = JwtVerifier.from_config(config, fetch=fetch)
            await verifier.principal(token)  # the key set fetched, the token (maybe) remembered
            figures.append(await per_request(verifier, token, seconds if cache else seconds * 2))
        print(f"{alg:<10}{figures[0]:>18.2f}{figures[1]:>20.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="measuring time per figure")
    args = parser.parse_args()
    pin_to_core(1)
    asyncio.run(run(args.seconds))


if __name__ == "__main__":
    main()

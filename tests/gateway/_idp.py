"""A tiny identity provider for the JWT tests: keys generated in the test, a JWK Set served as
an ASGI app (under ``LiveServer``, on loopback), and tokens signed with those keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.gateway._upstreams import lifespan

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "IdentityProvider",
    "SigningKey",
    "claims",
    "ec_key",
    "ed25519_key",
    "hs256_with_public_key",
    "rsa_key",
    "unsigned",
]

ISSUER = "https://idp.test/"
AUDIENCE = "claudegate"

Scope = dict[str, Any]


@dataclass(frozen=True)
class SigningKey:
    """A private key, its algorithm and its ``kid``."""

    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        exporter: Any = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[self.algorithm]
        data: dict[str, Any] = exporter.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(self.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed25519_key(kid: str) -> SigningKey:
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(subject: str = "alice", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 300, **extra}


def unsigned(kid: str, payload: dict[str, Any]) -> str:
    """An ``alg: none`` token."""
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT", "kid": kid}))
    return f"{header}.{_b64(orjson.dumps(payload))}."


def hs256_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The algorithm-confusion token: HS256 keyed with the PEM of the provider's public key."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}))
    signing_input = f"{header}.{_b64(orjson.dumps(payload))}"
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class IdentityProvider:
    """Publishes ``published`` keys at ``/jwks.json`` and counts the fetches."""

    keys: dict[str, SigningKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    fetches: int = 0
    cache_control: str = "max-age=300"
    status: int = 200

    def add(self, key: SigningKey, *, publish: bool = True) -> SigningKey:
        self.keys[key.kid] = key
        if publish:
            self.published.append(key.kid)
        return key

    def token(self, kid: str, payload: dict[str, Any] | None = None, **headers: Any) -> str:
        key = self.keys[kid]
        return jwt.encode(
            payload if payload is not None else claims(),
            key.private,
            algorithm=key.algorithm,
            headers={"kid": kid, **headers},
        )

    def key_set(self) -> dict[str, Any]:
        return {"keys": [self.keys[kid].jwk() for kid in self.published]}

    @staticmethod
    def key_set_bytes(keys: list[SigningKey]) -> bytes:
        """The JWK Set document publishing ``keys``."""
        return orjson.dumps({"keys": [key.jwk() for key in keys]})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.fetches += 1
        body = orjson.dumps(self.key_set()) if self.status == 200 else b'{"error": "down"}'
        headers = [(b"content-type", b"application/json"), (b"cache-control", self.cache_control.encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

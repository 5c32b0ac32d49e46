"""The keys JWTs are verified with: one configured public key, or an identity provider's JWK Set.

A JWK Set is fetched over HTTP (aiohttp, ``jwks_timeout`` per fetch) the first time a token needs
it, and kept for its ``Cache-Control: max-age`` bounded by ``[jwks_refetch_interval,
jwks_max_age]``. A token naming a ``kid`` the set lacks triggers a refetch (the provider rotated its
keys), at most once per ``jwks_refetch_interval``; concurrent callers share one fetch. When a fetch
fails, the last good set stays in use; a token whose key is in no set fetched so far then gets
``KeysUnavailable`` (answered 503 with ``retry-after``), never a wait longer than one timeout.

Only asymmetric keys are kept, each with the algorithms it can verify (its type and curve, narrowed
by its ``alg`` and the configured ``algorithms``): an HMAC algorithm never meets a public key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

__all__ = ["Fetch", "JwksCache", "KeysUnavailable", "StaticKey", "VerifyingKey", "load_public_key"]

log = logging.getLogger("claudegate.gateway")

Fetch = Callable[[str, float], Awaitable[tuple[int, Mapping[str, str], bytes]]]
"""``(url, timeout) -> (status, headers, body)``: how a key set is fetched."""

_MAX_BODY = 1024 * 1024
_MIN_RSA_BITS = 2048
_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_LOADERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)")


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A public key and the signature algorithms it may verify."""

    key: Any
    algorithms: frozenset[str]
    kid: str | None = None


class KeysUnavailable(Exception):
    """No key set could be fetched for this token; worth retrying after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the JWT signing keys cannot be fetched now")
        self.retry_after = retry_after


def _public(key: Any) -> Any:
    return key.public_key() if hasattr(key, "private_bytes") else key


def _algorithms_of(key: Any) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA if key.key_size >= _MIN_RSA_BITS else frozenset()
    if isinstance(key, ec.EllipticCurvePublicKey):
        found = _CURVES.get(key.curve.name)
        return frozenset({found}) if found else frozenset()
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    return frozenset()


def _verifying(key: Any, kid: str | None, alg: object, allowed: frozenset[str]) -> VerifyingKey | None:
    algorithms = _algorithms_of(_public(key)) & allowed
    if isinstance(alg, str):
        algorithms &= {alg}
    return VerifyingKey(_public(key), algorithms, kid) if algorithms else None


def load_jwk(data: Mapping[str, Any], allowed: frozenset[str]) -> VerifyingKey | None:
    """The verifying key a JWK describes, or None when it is not an asymmetric signing key."""
    use = data.get("use")
    if use is not None and use != "sig":
        return None
    loader = _LOADERS.get(str(data.get("kty")))
    if loader is None:  # "oct" (a shared secret) and unknown key types are never used
        return None
    try:
        key = loader(dict(data))
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    kid = data.get("kid")
    return _verifying(key, kid if isinstance(kid, str) else None, data.get("alg"), allowed)


def load_public_key(text: str, allowed: frozenset[str]) -> VerifyingKey:
    """The key of a PEM public key, a PEM certificate or a JWK (ValueError naming what is wrong)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not a PEM key and not valid JWK JSON") from None
        found = load_jwk(data, allowed) if isinstance(data, dict) else None
        if found is None:
            raise ValueError("the JWK is not an asymmetric signing key for the configured algorithms")
        return found
    try:
        if "BEGIN CERTIFICATE" in text:
            key: Any = x509.load_pem_x509_certificate(text.encode()).public_key()
        else:
            key = load_pem_public_key(text.encode())
    except ValueError:
        raise ValueError("not a PEM public key, a PEM certificate or a JWK") from None
    found = _verifying(key, None, None, allowed)
    if found is None:
        raise ValueError("the key cannot verify any configured algorithm (RSA under 2048 bits?)")
    return found


def parse_key_set(body: bytes, allowed: frozenset[str]) -> tuple[VerifyingKey, ...]:
    """The usable keys of a JWK Set document (ValueError when it is not one)."""
    data = json.loads(body)
    members = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(members, list):
        raise ValueError("not a JWK Set (no 'keys' list)")
    keys = tuple(key for key in (load_jwk(m, allowed) for m in members if isinstance(m, dict)) if key)
    if not keys:
        raise ValueError("no usable signing key in the JWK Set")
    return keys


def _max_age(headers: Mapping[str, str]) -> float | None:
    control = next((value for name, value in headers.items() if name.lower() == "cache-control"), "")
    if "no-store" in control or "no-cache" in control:
        return 0.0
    found = _MAX_AGE.search(control)
    return float(found.group(1)) if found else None


async def http_get(url: str, timeout: float) -> tuple[int, Mapping[str, str], bytes]:
    """GET ``url`` with aiohttp within ``timeout`` seconds in all (a body past 1 MiB is refused)."""
    import aiohttp  # loaded only by gateways that fetch a key set

    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(url, headers={"accept": "application/json"}) as response,
    ):
        body = await response.content.read(_MAX_BODY + 1)
        if len(body) > _MAX_BODY:
            raise ValueError("the key set is larger than 1 MiB")
        return response.status, dict(response.headers), body


class StaticKey:
    """One configured public key, used whatever ``kid`` a token names."""

    def __init__(self, key: VerifyingKey) -> None:
        self._keys = (key,)

    async def keys(self, kid: str | None) -> tuple[VerifyingKey, ...]:
        return self._keys

    async def close(self) -> None:
        """Nothing to release."""


class JwksCache:
    """An identity provider's signing keys, fetched and kept as the module docstring says."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        timeout: float = 5.0,
        refetch_interval: float = 30.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch = http_get,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self._allowed = frozenset(algorithms)
        self._timeout = timeout
        self._interval = refetch_interval
        self._max_age = max(max_age, refetch_interval)
        self._clock = clock
        self._fetch = fetch
        self.on_change = on_change
        """Called when a fetch brings a key set that differs from the one before."""
        self._by_kid: dict[str | None, tuple[VerifyingKey, ...]] | None = None
        self._expires = 0.0
        self._next_fetch = 0.0
        self._failed = False
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0
        """Fetches attempted so far (successful or not)."""

    def _lookup(self, kid: str | None) -> tuple[VerifyingKey, ...]:
        by_kid = self._by_kid or {}
        if kid is None:  # a token without kid may be signed by any key of the set
            return tuple(key for keys in by_kid.values() for key in keys)
        return by_kid.get(kid, ())

    async def keys(self, kid: str | None) -> tuple[VerifyingKey, ...]:
        """The keys a token naming ``kid`` may be signed with (empty: none is known), fetching the
        set when it is stale or lacks ``kid``; ``KeysUnavailable`` when no set can be had."""
        now = self._clock()
        found = self._lookup(kid)
        if now < self._expires and found:
            return found
        if self._inflight is None and now < self._next_fetch:  # fetched a moment ago: not again yet
            if found or (self._by_kid is not None and not self._failed):
                return found
            raise KeysUnavailable(self._next_fetch - now)
        await self._refresh()
        found = self._lookup(kid)
        if not found and self._failed:
            raise KeysUnavailable(self._interval)
        return found

    async def _refresh(self) -> None:
        task = self._inflight
        if task is None:
            task = self._inflight = asyncio.ensure_future(self._fetch_once())
            task.add_done_callback(self._fetched)
        # A caller that leaves (its client hung up) does not cancel the fetch others wait for.
        await asyncio.shield(task)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _fetch_once(self) -> None:
        self.fetches += 1
        self._next_fetch = self._clock() + self._interval
        try:
            status, headers, body = await asyncio.wait_for(
                self._fetch(self.url, self._timeout), self._timeout
            )
            if status != 200:
                raise ValueError(f"HTTP status {status}")
            keys = parse_key_set(body, self._allowed)
        except Exception as exc:  # timeouts, refused connections, aiohttp's errors, a bad document
            self._failed = True
            log.warning("fetching the JWT signing keys from %s failed: %s", self.url, _reason(exc))
            return
        by_kid: dict[str | None, tuple[VerifyingKey, ...]] = {}
        for key in keys:
            by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        age = _max_age(headers)
        lifetime = min(max(self._max_age if age is None else age, self._interval), self._max_age)
        self._expires = self._clock() + lifetime
        self._failed = False
        changed = self._by_kid is not None and _fingerprint(self._by_kid) != _fingerprint(by_kid)
        self._by_kid = by_kid
        if changed and self.on_change is not None:
            self.on_change()

    async def close(self) -> None:
        """Stop a fetch in flight (at shutdown)."""
        task = self._inflight
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _fingerprint(
    by_kid: Mapping[str | None, tuple[VerifyingKey, ...]],
) -> frozenset[tuple[str | None, bytes]]:
    return frozenset(
        (kid, key.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
        for kid, keys in by_kid.items()
        for key in keys
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

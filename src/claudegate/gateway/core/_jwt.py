"""JWT principals: a token from the identity provider (``auth.jwt``) turned into a ``Principal``.

Verification, with PyJWT on a key from ``_jwks``: the algorithm must be one of the configured
asymmetric ones *and* one the key can verify (``alg: none`` and an HMAC algorithm keyed with a
public key are refused before any signature is checked); then the signature, ``iss``, ``aud``;
then ``exp`` (required) and ``nbf`` against this verifier's clock, with ``leeway`` seconds of skew.

The principal's subject, and optionally the models and the limits it is narrowed to and the
tenant whose rooms it shares, are read from the claims named in ``auth.jwt.claims``; a claim that
cannot be read refuses the token (a narrowing the gateway cannot apply is never silently dropped).
A verified token is remembered until it expires (``token_cache`` entries at most; forgotten when
the key set changes), so a request with a known token costs a dictionary lookup. Refusals are
401 ``authentication_error`` naming what failed; no message, log line or repr carries the token.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from claudegate.gateway._config import ConfigError, JwtConfig, resolve_text
from claudegate.gateway.core._call import Principal
from claudegate.gateway.core._errors import GatewayError, shown
from claudegate.gateway.core._jwks import (
    Fetch,
    JwksCache,
    KeysUnavailable,
    StaticKey,
    VerifyingKey,
    http_get,
    load_public_key,
)
from claudegate.store import KeyBudget, KeyLimits

__all__ = ["JwtVerifier"]

_LIMIT_FIELDS = KeyLimits.__slots__
_BUDGET_FIELDS = KeyBudget.__slots__
_MAX_SUBJECT = 255


class KeySource(Protocol):
    """Where verifying keys come from (``StaticKey`` or ``JwksCache``)."""

    async def keys(self, kid: str | None) -> tuple[VerifyingKey, ...]: ...

    async def close(self) -> None: ...


def _refused(message: str) -> GatewayError:
    return GatewayError(401, "authentication_error", f"invalid JWT: {message}")


class JwtVerifier:
    """Verifies tokens for one ``auth.jwt`` configuration (see the module docstring)."""

    def __init__(self, config: JwtConfig, keys: KeySource, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.keys = keys
        self._clock = clock
        self._algorithms = frozenset(config.algorithms)
        self._accepted = ", ".join(config.algorithms)
        self._audience = [config.audience] if isinstance(config.audience, str) else list(config.audience)
        self._decoder = jwt.PyJWT(
            {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": ["exp", "iss", "aud"]}
        )
        self._tokens: dict[str, tuple[float, Principal]] = {}
        self._capacity = config.token_cache

    @classmethod
    def from_config(
        cls,
        config: JwtConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        fetch: Fetch = http_get,
    ) -> JwtVerifier:
        """A verifier for ``config``: its public key loaded now (``ConfigError`` when it is not
        one), or its key set fetched when the first token needs it."""
        algorithms = frozenset(config.algorithms)
        if config.public_key is not None:
            text = resolve_text(config.public_key, "auth.jwt.public_key")
            try:
                key = load_public_key(text, algorithms)
            except ValueError as exc:
                raise ConfigError(f"auth.jwt.public_key: {exc}", field="auth.jwt.public_key") from None
            return cls(config, StaticKey(key), clock=clock)
        assert config.jwks_url is not None  # the configuration requires one of the two
        cache = JwksCache(
            config.jwks_url,
            algorithms=algorithms,
            timeout=config.jwks_timeout,
            refetch_interval=config.jwks_refetch_interval,
            max_age=config.jwks_max_age,
            clock=monotonic,
            fetch=fetch,
        )
        verifier = cls(config, cache, clock=clock)
        cache.on_change = verifier.forget_tokens
        return verifier

    def forget_tokens(self) -> None:
        """Verify every token again (the provider's keys changed)."""
        self._tokens.clear()

    async def close(self) -> None:
        """Stop a key-set fetch in flight."""
        await self.keys.close()

    async def principal(self, token: str) -> Principal:
        """The principal ``token`` names, or a 401 (a 503 while no key set can be fetched)."""
        now = self._clock()
        cached = self._tokens.get(token)
        if cached is not None:
            if now < cached[0]:
                return cached[1]
            del self._tokens[token]
        claims = await self._verified(token, now)
        principal = self._principal(token, claims)
        if self._capacity > 0:
            if len(self._tokens) >= self._capacity:
                del self._tokens[next(iter(self._tokens))]  # the oldest entry
            self._tokens[token] = (float(claims["exp"]) + self.config.leeway, principal)
        return principal

    async def _verified(self, token: str, now: float) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise _refused("not a well-formed JWS compact token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown_alg = shown(alg, 20) if isinstance(alg, str) else repr(type(alg).__name__)
            raise _refused(f"algorithm {shown_alg!r} is not accepted (accepted: {self._accepted})")
        if kid is not None and not isinstance(kid, str):
            raise _refused("'kid' must be a string")
        try:
            keys = [key for key in await self.keys.keys(kid) if alg in key.algorithms]
        except KeysUnavailable as exc:
            raise GatewayError(
                503,
                "api_error",
                "cannot verify the JWT now: the identity provider's signing keys could not be fetched",
                headers={"retry-after": str(max(1, round(exc.retry_after)))},
            ) from None
        if not keys:
            named = f" {shown(kid, 64)!r}" if kid is not None else ""
            raise _refused(f"no {alg} signing key{named} among the issuer's keys")
        claims = self._decoded(token, alg, keys)
        self._check_times(claims, now)
        return claims

    def _decoded(self, token: str, alg: str, keys: list[VerifyingKey]) -> dict[str, Any]:
        for key in keys:
            try:
                claims: dict[str, Any] = self._decoder.decode(
                    token, key.key, algorithms=[alg], audience=self._audience, issuer=self.config.issuer
                )
            except InvalidSignatureError:
                continue  # another key with this kid (or a token without kid) may have signed it
            except InvalidAudienceError:
                raise _refused("audience (aud) is not accepted") from None
            except InvalidIssuerError:
                raise _refused("issuer (iss) is not accepted") from None
            except MissingRequiredClaimError as exc:
                raise _refused(f"the '{exc.claim}' claim is required") from None
            except DecodeError:
                raise _refused("not a well-formed JWS compact token") from None
            except PyJWTError:
                raise _refused("the token cannot be verified") from None
            return claims
        raise _refused("the signature does not verify")

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        leeway = self.config.leeway
        exp = _seconds(claims, "exp")
        if exp is None or now >= exp + leeway:
            raise _refused("the token has expired")
        nbf = _seconds(claims, "nbf")
        if nbf is not None and now + leeway < nbf:
            raise _refused("the token is not valid yet (nbf)")

    def _principal(self, token: str, claims: Mapping[str, Any]) -> Principal:
        names = self.config.claims
        subject = claims.get(names.subject)
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
            raise _refused(f"the '{names.subject}' claim must be a string of 1 to {_MAX_SUBJECT} characters")
        limits, budget = _limits(claims.get(names.limits), names.limits)
        tenant = claims.get(names.rooms) if names.rooms is not None else None
        if tenant is not None and (not isinstance(tenant, str) or not tenant or len(tenant) > _MAX_SUBJECT):
            raise _refused(f"the '{names.rooms}' claim must be a string of 1 to {_MAX_SUBJECT} characters")
        return Principal(
            credential_digest=hashlib.sha256(token.encode()).hexdigest(),
            subject=subject,
            models=_models(claims.get(names.models), names.models),
            limits=limits,
            budget=budget,
            tenant=tenant,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if not _is_number(value):
        raise _refused(f"'{name}' must be a number of seconds since the epoch")
    return float(value)


def _models(value: object, claim: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # a space-separated list, as OAuth scopes are written
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _refused(f"the '{claim}' claim must be a list of model names")
    return tuple(value)


def _limits(value: object, claim: str) -> tuple[KeyLimits | None, KeyBudget | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _refused(f"the '{claim}' claim must be an object")
    for name, amount in value.items():
        if name not in _LIMIT_FIELDS and name not in _BUDGET_FIELDS:
            fields = ", ".join((*_LIMIT_FIELDS, *_BUDGET_FIELDS))
            raise _refused(f"'{claim}.{shown(str(name), 40)}' is not a known limit ({fields})")
        integral = name in _LIMIT_FIELDS
        valid = (isinstance(amount, int) and not isinstance(amount, bool)) if integral else _is_number(amount)
        if not valid or amount < 0:
            raise _refused(f"'{claim}.{name}' must be {'an integer' if integral else 'a number'}, at least 0")
    limits = {name: value[name] for name in _LIMIT_FIELDS if name in value}
    budget = {name: float(value[name]) for name in _BUDGET_FIELDS if name in value}
    return (KeyLimits(**limits) if limits else None, KeyBudget(**budget) if budget else None)

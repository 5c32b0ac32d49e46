"""Who is calling: the gateway API key, or a JWT, from ``x-api-key`` or ``Authorization: Bearer``.

Keys are looked up by hash in the ``KeyStore`` and trusted for ``auth.cache_seconds``; with no
key ever issued and no ``auth.jwt`` the gateway runs open (``claudegate serve`` allows that on
loopback only). A credential shaped like a JWT goes to the ``JwtVerifier`` when ``auth.jwt`` is set.
The caller's credential never leaves this module: it is not forwarded upstream and not logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from claudegate.gateway._config import GatewayConfig, StorageConfig
from claudegate.gateway.core._call import Principal
from claudegate.gateway.core._errors import GatewayError

if TYPE_CHECKING:  # the SQL layer loads only when keys are in use
    from claudegate.gateway.core._jwt import JwtVerifier
    from claudegate.store import ApiKey, KeyStore

__all__ = ["Authenticator", "credential_digest", "keys_issued", "looks_like_jwt", "presented_key"]

_OPEN_RECHECK = 2.0  # seconds an "open: no keys issued" answer is trusted


def presented_key(headers: Mapping[bytes, bytes]) -> str | None:
    """The key the caller sent: ``x-api-key`` first, then an ``Authorization: Bearer`` token."""
    value = headers.get(b"x-api-key")
    if value:
        return value.decode("latin-1").strip()
    value = headers.get(b"authorization")
    if value and value[:7].lower() == b"bearer ":
        return value[7:].decode("latin-1").strip()
    return None


def looks_like_jwt(credential: str) -> bool:
    """Whether a presented credential is a compact JWS (``eyJ…`` header, three parts), not a key."""
    return credential.startswith("eyJ") and credential.count(".") == 2


def credential_digest(credential: str | None) -> str | None:
    """A digest of what the caller presented (for sticky routing; the credential is never kept)."""
    return hashlib.sha256(credential.encode()).hexdigest() if credential else None


class Authenticator:
    """Turns a request's key or JWT into a ``Principal`` (anonymous: the gateway is open), or a 401."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        cache_seconds: float,
        admin_key: str | None = None,
        enforce: bool = True,
        jwt: JwtVerifier | None = None,
    ) -> None:
        self._keys = keys
        self.enforce = enforce
        self.jwt = jwt
        self._ttl = cache_seconds
        self._admin = admin_key.encode() if admin_key else None
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._issued: tuple[float, bool] = (0.0, False)

    async def _any_keys(self) -> bool:
        now = time.monotonic()
        until, found = self._issued
        if now < until:
            return found
        # Revoked keys count: revoking the last key must not open the gateway.
        found = bool(await self._keys.list())
        self._issued = (now + min(self._ttl, _OPEN_RECHECK), found)
        return found

    async def _lookup(self, plaintext: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._cache.get(plaintext)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = await self._keys.lookup(plaintext)
        if self._ttl > 0:
            if len(self._cache) > 10_000:  # a flood of bad keys must not grow this without bound
                self._cache.clear()
            self._cache[plaintext] = (now + self._ttl, key)
        return key

    async def principal(self, credential: str | None) -> Principal:
        """The caller presenting ``credential`` (a key or, with ``auth.jwt``, a JWT), or a 401."""
        if credential is not None and self.jwt is not None and looks_like_jwt(credential):
            return await self.jwt.principal(credential)
        return Principal(await self.authenticate(credential), credential_digest(credential))

    async def authenticate(self, plaintext: str | None) -> ApiKey | None:
        """The caller's active key; ``None`` when no key was ever issued (the gateway is open)."""
        if plaintext is not None and plaintext.startswith("cg-"):
            key = await self._lookup(plaintext)
            if key is None:
                raise GatewayError(401, "authentication_error", "invalid or revoked API key")
            return key
        if self.enforce and (self.jwt is not None or await self._any_keys()):
            if plaintext is None:
                what = "an API key or a JWT" if self.jwt is not None else "an API key"
                raise GatewayError(
                    401, "authentication_error", f"{what} is required (x-api-key or Authorization: Bearer)"
                )
            raise GatewayError(401, "authentication_error", "invalid or revoked API key")
        return None

    async def close(self) -> None:
        """Release what the JWT verifier holds (a key-set fetch in flight)."""
        if self.jwt is not None:
            await self.jwt.close()

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache at once (after it was revoked here)."""
        self._issued = (0.0, False)
        for plaintext, (_, key) in list(self._cache.items()):
            if key is not None and key.id == key_id:
                del self._cache[plaintext]

    def opened(self) -> None:
        """A key was just issued: stop treating the gateway as open."""
        self._issued = (0.0, False)
        self._cache = {k: v for k, v in self._cache.items() if v[1] is not None}

    @property
    def has_admin_key(self) -> bool:
        """Whether an admin key is configured (``auth.admin_key``): the admin API is on."""
        return self._admin is not None

    def is_admin(self, plaintext: str) -> bool:
        """Whether ``plaintext`` is the admin key (compared in constant time)."""
        return self._admin is not None and hmac.compare_digest(plaintext.encode(), self._admin)

    def check_admin(self, plaintext: str | None) -> None:
        """401 without a key, 403 with the wrong one, 403 when the admin API is switched off."""
        if self._admin is None:
            raise GatewayError(403, "permission_error", "the admin API is off: set auth.admin_key")
        if plaintext is None:
            raise GatewayError(401, "authentication_error", "the admin API needs the admin key")
        if not hmac.compare_digest(plaintext.encode(), self._admin):
            raise GatewayError(403, "permission_error", "not the admin key")


async def keys_issued(config: GatewayConfig) -> bool:
    """Whether the key database this configuration points at holds any key (revoked ones count)."""
    storage = config.storage or StorageConfig()  # the default key database, as ``claudegate keys`` uses
    url, prefix = storage.database_url, storage.table_prefix
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[1].split("?", 1)[0]
        if path != ":memory:":
            # A file read with the standard library: no SQL layer is loaded to learn there is no key.
            return await asyncio.to_thread(_sqlite_has_keys, Path(path), f"{prefix}api_keys")
    from claudegate.store import Database, KeyStore

    database = await Database.connect(url, table_prefix=prefix)
    try:
        return bool(await KeyStore(database).list())
    finally:
        await database.close()


def _sqlite_has_keys(path: Path, table: str) -> bool:
    if not path.exists():
        return False
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return (
            found is not None
            and connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None
        )
    finally:
        connection.close()

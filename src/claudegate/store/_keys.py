"""API keys: issued once in plaintext, stored only as a hash, looked up in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from claudegate.errors import UserError
from claudegate.store._database import Database

__all__ = ["ApiKey", "CreatedKey", "KeyBudget", "KeyLimits", "KeyStore", "hash_key"]

KEY_PREFIX = "cg-"
_DISPLAY_CHARS = 10


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Per-key rate limits; ``None`` means unlimited."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    concurrent_requests: int | None = None


@dataclass(frozen=True, slots=True)
class KeyBudget:
    """Per-key spend caps in US dollars; ``None`` means uncapped."""

    cost_per_day: float | None = None
    cost_per_month: float | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key's metadata; the plaintext is never part of it."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    admin: bool = False
    allowed_models: tuple[str, ...] = ()
    limits: KeyLimits = field(default_factory=KeyLimits)
    budget: KeyBudget = field(default_factory=KeyBudget)

    @property
    def active(self) -> bool:
        """Whether the key may still be used (it has not been revoked)."""
        return self.revoked_at is None

    def allows_model(self, model: str) -> bool:
        """Whether this key may call ``model`` (an empty allow-list allows every model)."""
        return not self.allowed_models or model in self.allowed_models


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A freshly created key: ``plaintext`` is shown this once and cannot be recovered later."""

    key: ApiKey
    plaintext: str


def hash_key(plaintext: str, pepper: bytes | None = None) -> str:
    """The stored form of a key: SHA-256, or HMAC-SHA-256 under the deployment's pepper."""
    data = plaintext.encode()
    if pepper:
        return hmac.new(pepper, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and value < 0:
        raise UserError(f"{name} must not be negative", field=name)


class KeyStore:
    """Creates, lists, changes, revokes and authenticates API keys held in a ``Database``."""

    def __init__(self, database: Database, *, pepper: str | bytes | None = None) -> None:
        self._database = database
        self._table = database.tables.api_keys
        self._pepper = pepper.encode() if isinstance(pepper, str) else pepper

    async def create(
        self,
        name: str,
        *,
        allowed_models: Iterable[str] = (),
        limits: KeyLimits | None = None,
        budget: KeyBudget | None = None,
        admin: bool = False,
    ) -> CreatedKey:
        """Issue a new key; the returned plaintext is the only copy that will ever exist."""
        if not name.strip():
            raise UserError("a key needs a non-empty name", field="name")
        limits = limits or KeyLimits()
        budget = budget or KeyBudget()
        for limit_name in KeyLimits.__slots__:
            _check_positive(limit_name, getattr(limits, limit_name))
        for budget_name in KeyBudget.__slots__:
            _check_positive(budget_name, getattr(budget, budget_name))
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id="key_" + secrets.token_hex(12),
            name=name,
            prefix=plaintext[:_DISPLAY_CHARS],
            created_at=datetime.now(UTC),
            admin=admin,
            allowed_models=tuple(dict.fromkeys(allowed_models)),
            limits=limits,
            budget=budget,
        )
        values = {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "key_hash": hash_key(plaintext, self._pepper),
            "created_at": key.created_at,
            "revoked_at": None,
            "admin": admin,
            "allowed_models": list(key.allowed_models),
            "requests_per_minute": limits.requests_per_minute,
            "input_tokens_per_minute": limits.input_tokens_per_minute,
            "output_tokens_per_minute": limits.output_tokens_per_minute,
            "concurrent_requests": limits.concurrent_requests,
            "cost_per_day": budget.cost_per_day,
            "cost_per_month": budget.cost_per_month,
        }
        async with self._database.engine.begin() as connection:
            await connection.execute(self._table.insert().values(**values))
        return CreatedKey(key=key, plaintext=plaintext)

    async def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        query = select(self._table).order_by(self._table.c.created_at, self._table.c.id)
        if not include_revoked:
            query = query.where(self._table.c.revoked_at.is_(None))
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_row_to_key(row) for row in rows]

    async def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not, or ``None``."""
        query = select(self._table).where(self._table.c.id == key_id)
        async with self._database.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _row_to_key(row)

    async def get_many(self, key_ids: Iterable[str]) -> dict[str, ApiKey]:
        """The keys with these ids (revoked or not) that exist, in one query."""
        wanted = list(dict.fromkeys(key_ids))
        if not wanted:
            return {}
        query = select(self._table).where(self._table.c.id.in_(wanted))
        async with self._database.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return {row["id"]: _row_to_key(row) for row in rows}

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key for good; revoking twice keeps the first revocation time."""
        statement = (
            update(self._table)
            .where(self._table.c.id == key_id, self._table.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        async with self._database.engine.begin() as connection:
            await connection.execute(statement)
        key = await self.get(key_id)
        if key is None:
            raise UserError(f"no API key with id {key_id!r}", field="key_id")
        return key

    async def update(
        self, key_id: str, *, limits: KeyLimits | None = None, budget: KeyBudget | None = None
    ) -> ApiKey:
        """Replace a key's limits and/or budget (a field of ``None`` is unlimited); a revoked key
        keeps its own. The key as stored now."""
        values: dict[str, Any] = {}
        for section, names in ((limits, KeyLimits.__slots__), (budget, KeyBudget.__slots__)):
            if section is None:
                continue
            for name in names:
                _check_positive(name, getattr(section, name))
                values[name] = getattr(section, name)
        key = await self.get(key_id)
        if key is None:
            raise UserError(f"no API key with id {key_id!r}", field="key_id")
        if not values or not key.active:
            return key
        statement = update(self._table).where(self._table.c.id == key_id).values(**values)
        async with self._database.engine.begin() as connection:
            await connection.execute(statement)
        return await self.get(key_id) or key

    async def lookup(self, plaintext: str) -> ApiKey | None:
        """The active key matching ``plaintext``, or ``None`` when it is unknown or revoked."""
        if not plaintext.startswith(KEY_PREFIX):
            return None
        digest = hash_key(plaintext, self._pepper)
        query = select(self._table).where(self._table.c.key_hash == digest)
        async with self._database.engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        # The index finds the row by hash; the final check does not leak timing about the stored value.
        if row is None or not hmac.compare_digest(str(row["key_hash"]), digest):
            return None
        key = _row_to_key(row)
        return key if key.active else None


def _row_to_key(row: Mapping[Any, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        admin=bool(row["admin"]),
        allowed_models=tuple(row["allowed_models"] or ()),
        limits=KeyLimits(
            requests_per_minute=row["requests_per_minute"],
            input_tokens_per_minute=row["input_tokens_per_minute"],
            output_tokens_per_minute=row["output_tokens_per_minute"],
            concurrent_requests=row["concurrent_requests"],
        ),
        budget=KeyBudget(cost_per_day=row["cost_per_day"], cost_per_month=row["cost_per_month"]),
    )

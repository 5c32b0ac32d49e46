"""Administering gateway API keys: issue, change limits and budget, revoke, and read each key's
standing (what it has spent of its budget). The admin API and the dashboard both call this, so a
key changed through either is seen at once by this gateway's authentication (its cache of the key
is dropped); other replicas see it within ``auth.cache_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from claudegate.errors import UserError
from claudegate.gateway.core._errors import GatewayError, shown
from claudegate.store import Spend

if TYPE_CHECKING:  # the SQL layer loads only when keys are in use
    from claudegate.gateway.core._policies import Policies
    from claudegate.store import ApiKey, CreatedKey, KeyBudget, KeyLimits

__all__ = ["KeyAdmin", "KeyStanding"]


@dataclass(frozen=True, slots=True)
class KeyStanding:
    """A key and its spend in the current UTC day and month (as the budget check counts it)."""

    key: ApiKey
    spent: Spend

    @property
    def left_today(self) -> float | None:
        """Dollars left of the daily budget (None: uncapped); never below zero."""
        cap = self.key.budget.cost_per_day
        return None if cap is None else max(cap - self.spent.day, 0.0)

    @property
    def left_this_month(self) -> float | None:
        """Dollars left of the monthly budget (None: uncapped); never below zero."""
        cap = self.key.budget.cost_per_month
        return None if cap is None else max(cap - self.spent.month, 0.0)


class KeyAdmin:
    """The keys of one gateway's database, changed as the admin key's holder asks."""

    def __init__(self, policies: Policies) -> None:
        assert policies.keys is not None and policies.auth is not None, "keys need an auth section"
        self._policies = policies
        self._keys = policies.keys
        self._auth = policies.auth

    async def create(
        self,
        name: str,
        *,
        allowed_models: Iterable[str] = (),
        limits: KeyLimits | None = None,
        budget: KeyBudget | None = None,
    ) -> CreatedKey:
        """Issue a key (its plaintext is in the answer only); a 400 naming a bad field."""
        try:
            created = await self._keys.create(
                name, allowed_models=allowed_models, limits=limits, budget=budget
            )
        except UserError as exc:
            raise GatewayError(400, "invalid_request_error", exc.message, exc.field) from None
        self._auth.opened()
        return created

    async def get(self, key_id: str) -> ApiKey:
        """The key, revoked or not; a 404 for an unknown id."""
        key = await self._keys.get(key_id)
        if key is None:
            raise GatewayError(404, "not_found_error", f"no API key with id {shown(key_id)!r}")
        return key

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key for good (it is refused at once here); a 404 for an unknown id."""
        await self.get(key_id)
        key = await self._keys.revoke(key_id)
        self._auth.forget(key_id)
        return key

    async def update(
        self, key_id: str, *, limits: KeyLimits | None = None, budget: KeyBudget | None = None
    ) -> ApiKey:
        """Replace the key's limits and/or budget (a section not given is kept); a 404 for an
        unknown id, a 409 for a revoked key, a 400 naming a bad field."""
        key = await self.get(key_id)
        if not key.active:
            raise GatewayError(409, "invalid_request_error", f"API key {key_id!r} is revoked")
        try:
            changed = await self._keys.update(key_id, limits=limits, budget=budget)
        except UserError as exc:
            raise GatewayError(400, "invalid_request_error", exc.message, exc.field) from None
        self._auth.forget(key_id)  # its next request reads the new limits
        return changed

    async def standings(self) -> list[KeyStanding]:
        """Every key (oldest first) with what it has spent today and this month."""
        keys = await self._keys.list()
        counters = self._policies.counters
        spent = await asyncio.gather(*(counters.spend(key.id) for key in keys))
        return [KeyStanding(key, spend) for key, spend in zip(keys, spent, strict=True)]

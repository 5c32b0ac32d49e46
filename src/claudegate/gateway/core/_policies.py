"""Keys, per-key limits, budgets and the ledger: what the core asks before and after each call.

A JWT principal (``auth.jwt``) is limited like a key: its token's own limits where it carries
them, never above the configured ``limits.per_key`` (an unset configured limit leaves the token's).

It exists only when keys, limits or storage are in use (an ``auth``, ``limits`` or ``storage``
section, or keys issued in the default database); without them the core pays nothing for it. The
database (keys and the usage ledger) is opened when ``auth`` or ``storage`` is set; counters live
in memory, or in Redis when ``storage.redis_url`` is set so that every replica shares them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from claudegate.gateway._config import AuthConfig, GatewayConfig, LimitSpec, resolve_secret
from claudegate.gateway.core._auth import Authenticator
from claudegate.gateway.core._budget import COST_HEADER, estimated_cost
from claudegate.gateway.core._call import Call, Principal
from claudegate.gateway.core._limits import Charge, Limits, RateLimiter, limit_headers
from claudegate.gateway.core._usage import token_counts
from claudegate.store import (
    ApiKey,
    CounterHealth,
    Counters,
    Database,
    FailurePolicy,
    KeyLimits,
    KeyStore,
    MemoryCounters,
    RedisCounters,
    UsageLedger,
    UsageRecord,
    UsageWriter,
)

__all__ = ["Admitted", "Policies"]

log = logging.getLogger("claudegate.gateway")


def _limits(key: ApiKey | None, default: LimitSpec) -> Limits:
    own = key.limits if key is not None else None

    def pick(name: str) -> int | None:
        value: int | None = getattr(own, name) if own is not None else None
        return value if value is not None else getattr(default, name)

    return Limits(
        requests_per_minute=pick("requests_per_minute"),
        input_tokens_per_minute=pick("input_tokens_per_minute"),
        output_tokens_per_minute=pick("output_tokens_per_minute"),
        concurrent_requests=pick("concurrent_requests"),
    )


def _capped(claimed: KeyLimits, default: LimitSpec) -> Limits:
    """A token's limits, none of them above the configured one (so a token never widens them)."""

    def pick(name: str) -> int | None:
        values = [v for v in (getattr(claimed, name), getattr(default, name)) if v is not None]
        return min(values) if values else None

    return Limits(
        requests_per_minute=pick("requests_per_minute"),
        input_tokens_per_minute=pick("input_tokens_per_minute"),
        output_tokens_per_minute=pick("output_tokens_per_minute"),
        concurrent_requests=pick("concurrent_requests"),
    )


@dataclass(slots=True)
class Admitted:
    """What an admitted call holds of its caller's limits."""

    charge: Charge
    input_estimate: int
    output_estimate: int


class Policies:
    """Keys, limits, budgets and the ledger for one gateway (see the module docstring)."""

    def __init__(
        self, config: GatewayConfig, *, implicit_auth: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.auth_config = config.auth or (AuthConfig() if implicit_auth else None)
        self.database: Database | None = None
        self.keys: KeyStore | None = None
        self.auth: Authenticator | None = None
        self.writer: UsageWriter | None = None
        self._clock = clock
        self.counters: Counters = MemoryCounters(clock=clock)
        lease = (config.gateway.timeouts.total or 600.0) + 60.0
        self.limiter = RateLimiter(self.counters, lease=lease)
        self._limits_cache: dict[str, tuple[ApiKey | KeyLimits, Limits]] = {}
        self.configure(config)

    def configure(self, config: GatewayConfig) -> None:
        """Take the per-key default limits of ``config`` (a reload changes them at once)."""
        self.config = config
        self._default_limits = config.limits.per_key if config.limits else LimitSpec()
        self._anonymous_limits = _limits(None, self._default_limits)
        self._limits_cache.clear()

    async def start(self) -> None:
        """Open the database and the counters (called by the lifespan, before serving)."""
        config = self.config
        storage = config.storage
        if storage is not None and storage.redis_url:
            self.counters = await RedisCounters.connect(  # a warm pool: a first burst is admitted exactly
                storage.redis_url,
                prefix=storage.redis_prefix,
                policy=FailurePolicy(storage.redis_failure_policy),
            )
            self.limiter.counters = self.counters
            self.limiter.parallel = True
        if self.auth_config is None and storage is None:
            return
        url = storage.database_url if storage else "sqlite+aiosqlite:///claudegate.db"
        prefix = storage.table_prefix if storage else "cg_"
        self.database = await Database.connect(url, table_prefix=prefix)
        self.keys = KeyStore(self.database)
        self.writer = UsageWriter(UsageLedger(self.database))
        if self.auth_config is not None:
            admin = self.auth_config.admin_key
            secret = resolve_secret(admin, "auth.admin_key").reveal() if admin else None
            jwt_config = self.auth_config.jwt
            verifier = None
            if jwt_config is not None:
                from claudegate.gateway.core._jwt import JwtVerifier  # PyJWT loads only when used

                verifier = JwtVerifier.from_config(jwt_config, clock=self._clock)
            self.auth = Authenticator(
                self.keys,
                cache_seconds=self.auth_config.cache_seconds,
                admin_key=secret,
                enforce=self.auth_config.enforce,
                jwt=verifier,
            )

    async def close(self) -> None:
        """Write every pending ledger row, then release the database and the counters."""
        if self.writer is not None:
            await self.writer.close()
        if self.auth is not None:
            await self.auth.close()
        await self.counters.close()
        if self.database is not None:
            await self.database.close()

    async def health(self) -> CounterHealth:
        """Whether the shared counters are reachable (and the policy applied when they are not)."""
        return await self.counters.health()

    async def admit(self, call: Call) -> Admitted:
        """Charge the call to its caller's limits and budget, or raise the 429 (a ledger row too)."""
        principal = call.principal
        openai = call.dialect == "openai"
        input_estimate = max(1, math.ceil(call.size / 3))
        cap = call.request.get("max_tokens")
        output_estimate = cap if isinstance(cap, int) and cap > 0 else self.config.gateway.default_max_tokens
        if call.embeddings:  # an embedding has no output tokens
            output_estimate = 0
        budget = principal.key.budget if principal.key is not None else principal.budget
        charge = await self.limiter.admit(
            principal.owner, self._limits(principal), input_estimate, output_estimate, openai, budget
        )
        outcome = call.outcome
        outcome.headers.extend(limit_headers(charge.headers, openai).items())
        estimate = estimated_cost(call.model, input_estimate, output_estimate)
        outcome.headers.append((COST_HEADER, f"{estimate:.6f}"))
        return Admitted(charge, input_estimate, output_estimate)

    async def admit_counting(self, call: Call) -> None:
        """Charge a token count to its own per-minute request budget (the caller's
        ``requests_per_minute``, counted apart from model calls), or raise the 429."""
        await self.admit_operation(call.principal, "count_tokens", call.dialect == "openai")

    async def admit_operation(self, principal: Principal, bucket: str, openai: bool = False) -> None:
        """Count one operation of ``bucket`` (``count_tokens``, ``graphql``) against the caller's
        ``requests_per_minute``, counted apart from model calls, or raise the 429."""
        per_minute = self._limits(principal).requests_per_minute
        if per_minute is None:
            return
        await self.limiter.admit(
            principal.owner + "/" + bucket, Limits(requests_per_minute=per_minute), 0, 0, openai
        )

    def _limits(self, principal: Principal) -> Limits:
        # Keys and verified tokens are cached objects (see ``auth.cache_seconds``, ``auth.jwt``),
        # so their limits are worked out once.
        key = principal.key
        source = key if key is not None else principal.limits
        if source is None:
            return self._anonymous_limits  # the configured ``limits.per_key``
        owner = principal.owner
        cached = self._limits_cache.get(owner)
        if cached is not None and cached[0] is source:
            return cached[1]
        if len(self._limits_cache) > 10_000:
            self._limits_cache.clear()
        if isinstance(source, KeyLimits):
            limits = _capped(source, self._default_limits)
        else:
            limits = _limits(source, self._default_limits)
        self._limits_cache[owner] = (source, limits)
        return limits

    async def settle(self, call: Call, admitted: Admitted | None) -> None:
        """Correct the token charge by the real usage, add the spend, and write the ledger row."""
        outcome = call.outcome
        if admitted is not None:
            input_tokens, output_tokens = token_counts(outcome.usage)
            try:
                await self.limiter.settle(
                    admitted.charge,
                    input_tokens,
                    output_tokens,
                    cost=outcome.cost if call.principal.account is not None else 0.0,
                )
            except Exception:
                log.exception("settling the counters of request %s failed", call.request_id)
        if call.ledger:
            self.record(call)

    def record(self, call: Call) -> None:
        """Write the call's ledger row (off the hot path)."""
        if self.writer is None:
            return
        self.writer.record(self.usage_record(call))

    def usage_record(self, call: Call) -> UsageRecord:
        """The call's ledger row (what ``record`` writes)."""
        outcome, usage = call.outcome, call.outcome.usage
        return UsageRecord(
            request_id=call.request_id,
            key_id=call.principal.account,
            model=outcome.model or call.model,
            deployment=outcome.deployment,
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
            cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
            cost=outcome.cost,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            status=outcome.status,
            dialect=call.dialect,
            stream=call.stream,
        )

    async def principal(self, credential: str | None) -> Principal:
        """The caller presenting ``credential`` (anonymous when keys are not in use), or a 401."""
        if self.auth is None:
            return Principal()
        return await self.auth.principal(credential)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0

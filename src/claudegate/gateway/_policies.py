"""The policy pipeline around each model request: authenticate → rate limit → budget → (the call)
→ correct the token charge, record spend and write one ledger row.

It exists only when the configuration has an ``auth``, ``limits`` or ``storage`` section; without
them the gateway calls its handlers directly and pays nothing. The database (keys and the usage
ledger) is opened when ``auth`` or ``storage`` is set; counters live in memory, or in Redis when
``storage.redis_url`` is set so that every replica shares them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from claudegate.gateway._auth import ANONYMOUS, Authenticator
from claudegate.gateway._budget import COST_HEADER, Budgets, estimated_cost, usage_cost
from claudegate.gateway._config import GatewayConfig, LimitSpec, resolve_secret
from claudegate.gateway._errors import GatewayError, classify
from claudegate.gateway._http import Exchange, Message
from claudegate.gateway._limits import Charge, Limits, RateLimiter, limit_headers
from claudegate.gateway._state import GatewayState
from claudegate.gateway._usage import USAGE_KEY
from claudegate.store import (
    ApiKey,
    CounterHealth,
    Counters,
    Database,
    FailurePolicy,
    KeyStore,
    MemoryCounters,
    RedisCounters,
    UsageLedger,
    UsageRecord,
    UsageWriter,
)

__all__ = ["USAGE_KEY", "Policies"]  # USAGE_KEY re-exported from _usage

log = logging.getLogger("claudegate.gateway")


Handler = Callable[[GatewayState, Exchange], Awaitable[tuple[str, str]]]


def _tokens(usage: Mapping[str, Any], *names: str) -> int:
    return sum(value for name in names if isinstance(value := usage.get(name), int))


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


class Policies:
    """Keys, limits, budgets and the ledger for one gateway (see the module docstring)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.database: Database | None = None
        self.keys: KeyStore | None = None
        self.auth: Authenticator | None = None
        self.writer: UsageWriter | None = None
        self.counters: Counters = MemoryCounters()
        lease = (config.gateway.timeouts.total or 600.0) + 60.0
        self.limiter = RateLimiter(self.counters, lease=lease)
        self.budgets = Budgets(self.counters)
        self._default_limits = config.limits.per_key if config.limits else LimitSpec()
        self._anonymous_limits = _limits(None, self._default_limits)
        self._limits_cache: dict[str, tuple[ApiKey, Limits]] = {}

    @classmethod
    def from_config(cls, config: GatewayConfig) -> Policies | None:
        """The pipeline for ``config``, or ``None`` when it configures no keys, limits or storage."""
        if config.auth is None and config.limits is None and config.storage is None:
            return None
        return cls(config)

    async def start(self) -> None:
        """Open the database and the counters (called by the lifespan, before serving)."""
        config = self.config
        storage = config.storage
        if storage is not None and storage.redis_url:
            self.counters = RedisCounters.from_url(
                storage.redis_url,
                prefix=storage.redis_prefix,
                policy=FailurePolicy(storage.redis_failure_policy),
            )
            self.limiter.counters = self.budgets.counters = self.counters
            self.limiter.parallel = True
        if config.auth is None and storage is None:
            return
        url = storage.database_url if storage else "sqlite+aiosqlite:///claudegate.db"
        prefix = storage.table_prefix if storage else "cg_"
        self.database = await Database.connect(url, table_prefix=prefix)
        self.keys = KeyStore(self.database)
        self.writer = UsageWriter(UsageLedger(self.database))
        if config.auth is not None:
            admin = config.auth.admin_key
            secret = resolve_secret(admin, "auth.admin_key").reveal() if admin else None
            self.auth = Authenticator(self.keys, cache_seconds=config.auth.cache_seconds, admin_key=secret)

    async def close(self) -> None:
        """Write every pending ledger row, then release the database and the counters."""
        if self.writer is not None:
            await self.writer.close()
        await self.counters.close()
        if self.database is not None:
            await self.database.close()

    async def health(self) -> CounterHealth:
        """Whether the shared counters are reachable (and the policy applied when they are not)."""
        return await self.counters.health()

    async def run(
        self, handler: Handler, state: GatewayState, exchange: Exchange, *, openai: bool, metered: bool
    ) -> tuple[str, str]:
        """Run ``handler`` inside the pipeline; ``metered`` requests are limited, priced and recorded."""
        key = await self.auth.authenticate(exchange) if self.auth is not None else None
        raw = await exchange.body(state.config.gateway.max_request_bytes)
        _replay(exchange, raw)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(model, str):
            return await handler(state, exchange)  # it answers the 400
        if key is not None and not key.allows_model(model):
            raise GatewayError(403, "permission_error", f"this API key may not use model {model!r}", "model")
        if not metered:
            return await handler(state, exchange)
        owner = key.id if key is not None else ANONYMOUS
        stream = body.get("stream") is True
        input_estimate = max(1, math.ceil(len(raw) / 3))
        output_estimate = self._max_tokens(body, openai, state)
        try:
            charge = await self._admit(key, owner, input_estimate, output_estimate, openai)
        except GatewayError as refusal:  # refusals are rows of the ledger too
            self._record(exchange, key, model, "", refusal.status, openai, stream, {}, 0.0)
            raise
        estimate = estimated_cost(model, input_estimate, output_estimate)
        _decorate(exchange, charge, openai, model, estimate, stream)
        status, deployment = 200, ""
        try:
            model, deployment = await handler(state, exchange)
        except BaseException as exc:
            status = classify(exc).status if isinstance(exc, Exception) else 499
            raise
        finally:
            await self._settle(exchange, key, charge, model, deployment, status, openai, stream)
        return model, deployment

    async def _admit(
        self, key: ApiKey | None, owner: str, input_estimate: int, output_estimate: int, openai: bool
    ) -> Charge:
        limits = self._limits(key)
        budget = key.budget if key is not None else None
        return await self.limiter.admit(owner, limits, input_estimate, output_estimate, openai, budget)

    def _limits(self, key: ApiKey | None) -> Limits:
        # Keys are cached objects (see ``auth.cache_seconds``), so their limits are worked out once.
        if key is None:
            return self._anonymous_limits
        cached = self._limits_cache.get(key.id)
        if cached is not None and cached[0] is key:
            return cached[1]
        if len(self._limits_cache) > 10_000:
            self._limits_cache.clear()
        limits = _limits(key, self._default_limits)
        self._limits_cache[key.id] = (key, limits)
        return limits

    @staticmethod
    def _max_tokens(body: dict[str, Any], openai: bool, state: GatewayState) -> int:
        names = ("max_completion_tokens", "max_tokens") if openai else ("max_tokens",)
        for name in names:
            value = body.get(name)
            if isinstance(value, int) and value > 0:
                return value
        return state.config.gateway.default_max_tokens

    async def _settle(
        self,
        exchange: Exchange,
        key: ApiKey | None,
        charge: Charge,
        model: str,
        deployment: str,
        status: int,
        openai: bool,
        stream: bool,
    ) -> None:
        usage: Mapping[str, Any] = exchange.scope.get(USAGE_KEY) or {}
        input_tokens = _tokens(
            usage, "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"
        )
        output_tokens = _tokens(usage, "output_tokens")
        cost = usage_cost(model, usage)
        try:
            await self.limiter.settle(
                charge, input_tokens, output_tokens, cost=cost if key is not None else 0.0
            )
        except Exception:
            log.exception("settling the counters of request %s failed", exchange.request_id)
        self._record(exchange, key, model, deployment, status, openai, stream, usage, cost)

    def _record(
        self,
        exchange: Exchange,
        key: ApiKey | None,
        model: str,
        deployment: str,
        status: int,
        openai: bool,
        stream: bool,
        usage: Mapping[str, Any],
        cost: float,
    ) -> None:
        if self.writer is None:
            return
        self.writer.record(
            UsageRecord(
                request_id=exchange.request_id,
                key_id=key.id if key is not None else None,
                model=model,
                deployment=deployment,
                input_tokens=_tokens(usage, "input_tokens"),
                output_tokens=_tokens(usage, "output_tokens"),
                cache_write_tokens=_tokens(usage, "cache_creation_input_tokens"),
                cache_read_tokens=_tokens(usage, "cache_read_input_tokens"),
                cost=cost,
                latency_ms=(time.perf_counter() - exchange.started) * 1000,
                status=status,
                dialect="openai" if openai else "anthropic",
                stream=stream,
            )
        )


def _replay(exchange: Exchange, raw: bytes) -> None:
    """Let the handler read the body the pipeline already read."""
    receive = exchange.receive
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    exchange.receive = replayed


def _decorate(
    exchange: Exchange, charge: Charge, openai: bool, model: str, estimate: float, stream: bool
) -> None:
    """Add the rate-limit and cost headers to the answer's start."""
    send = exchange.send
    extra = [(name.encode(), value.encode()) for name, value in limit_headers(charge.headers, openai).items()]

    async def decorated(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 200:
            usage = exchange.scope.get(USAGE_KEY)
            cost = estimate if stream or not usage else usage_cost(model, usage)
            message["headers"] = [*message["headers"], *extra, (COST_HEADER.encode(), f"{cost:.6f}".encode())]
        await send(message)

    exchange.send = decorated

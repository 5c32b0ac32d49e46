"""Counters in Redis, shared by every gateway replica: one atomic Lua round trip per check.

A key's counters share the hash tag ``{<prefix>:<key id>}`` so they live in one cluster slot.
When Redis cannot be reached, admission checks follow the configured ``FailurePolicy`` and say so
(``degraded=True``); after-the-fact updates (adjust, release, spend, circuit) are logged and dropped.

The pool is bounded: a burst of admissions waits for one of ``max_connections`` connections instead of
opening one socket per request, because hundreds of simultaneous connects on a busy machine time out
and the failure policy would then refuse requests Redis would have admitted. A command that fails on a
stale connection (Redis restarted, an idle socket cut) is sent once more on a fresh one before the
policy applies; ``connect`` (or ``warm``) opens and checks a few connections before the first request.

Time is Redis's own (``TIME`` inside every script, ``PX`` expiry for circuits), so replicas with skewed
clocks agree and there is no clock to inject; only the UTC day and month that spend is filed under
are read from this process's clock (``spend_periods``), unless the caller passes ``at``.

These scripts stand in for the ``limits`` library named in the design: admission must reserve every
limit of a key, take its concurrency slot and read its spend atomically in ONE round trip, which a
per-limit library call cannot do.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from claudegate.errors import UserError
from claudegate.store import _lua
from claudegate.store._counters import (
    Admission,
    Batch,
    CircuitState,
    CounterHealth,
    FailurePolicy,
    RateLimit,
    Spend,
    sliding_window,
    spend_periods,
)

__all__ = ["RedisCounters"]

logger = logging.getLogger("claudegate.store")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_DAY_TTL = 3 * 86_400
_MONTH_TTL = 62 * 86_400
_T = TypeVar("_T")


def _tag_part(value: str, field: str) -> str:
    # A brace inside an id would move the hash tag and split one key's counters across slots.
    if not value or any(char in value for char in "{}"):
        raise UserError(f"invalid {field} {value!r}", field=field)
    return value


class RedisCounters:
    """``Counters`` in Redis, for several replicas; see the module docstring for failure handling.

    Example::

        counters = await RedisCounters.connect("redis://127.0.0.1:6379/0", policy=FailurePolicy.FAIL_OPEN)
        answer = await counters.reserve(key.id, RateLimit("requests", 60))
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "cg",
        policy: FailurePolicy = FailurePolicy.FAIL_CLOSED,
        retry_after: float = 1.0,
    ) -> None:
        self._client = client
        self._prefix = _tag_part(prefix, "prefix")
        self.policy = FailurePolicy(policy)
        self._retry_after = retry_after
        self._reachable = True
        # register_script sends EVALSHA and loads the script only when Redis answers NOSCRIPT.
        self._reserve = client.register_script(_lua.RESERVE)
        self._acquire = client.register_script(_lua.ACQUIRE_SLOT)
        self._renew = client.register_script(_lua.RENEW_SLOT)
        self._add_spend = client.register_script(_lua.ADD_SPEND)
        self._admit = client.register_script(_lua.ADMIT)
        self._settle = client.register_script(_lua.SETTLE)

    @classmethod
    def from_url(
        cls,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "cg",
        policy: FailurePolicy = FailurePolicy.FAIL_CLOSED,
        timeout: float = 0.5,
        connect_timeout: float = 2.0,
        max_connections: int = 32,
        pool_timeout: float | None = None,
        health_check_interval: int = 30,
        client_name: str = "claudegate",
    ) -> RedisCounters:
        """Counters over a bounded pool of their own, opened lazily: ``connect`` opens some at once.

        ``timeout`` bounds one command, so how long an outage can stall a request. ``connect_timeout``
        is longer because a connect is a handshake of several round trips that a busy machine can be
        slow to schedule, and a spurious connect timeout refuses a request under ``fail_closed``.
        At most ``max_connections`` sockets are open; a request finding them all busy waits up to
        ``pool_timeout`` (default ``connect_timeout + timeout``) for one, then the policy applies.
        A connection idle for ``health_check_interval`` seconds is PINGed before it is used again.
        ``client_name`` names the connections in Redis's ``CLIENT LIST``.
        """
        if max_connections < 1:
            raise UserError("the Redis pool needs at least one connection", field="max_connections")
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=connect_timeout + timeout if pool_timeout is None else pool_timeout,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            health_check_interval=health_check_interval,
            client_name=client_name,
            # One immediate retry, on a fresh connection, and only for a broken connection: a stale
            # socket then costs nothing, while an unreachable or slow Redis is answered by the policy
            # at once (a timeout is not retried: it would double the stall). A script that did run
            # before its connection broke may be charged twice, which errs on the side of refusing.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(Redis.from_pool(pool), prefix=prefix, policy=policy)

    @classmethod
    async def connect(
        cls,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "cg",
        policy: FailurePolicy = FailurePolicy.FAIL_CLOSED,
        timeout: float = 0.5,
        connect_timeout: float = 2.0,
        max_connections: int = 32,
        client_name: str = "claudegate",
        warm: int = 4,
    ) -> RedisCounters:
        """``from_url``, then open and check ``warm`` connections so the first burst finds them ready.

        An unreachable Redis is not an error here: it is logged and the failure policy answers requests
        until Redis comes back.

        Example::

            counters = await RedisCounters.connect("redis://127.0.0.1:6379/0", prefix="cg")
        """
        counters = cls.from_url(
            url,
            prefix=prefix,
            policy=policy,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            client_name=client_name,
        )
        await counters.warm(warm)
        return counters

    async def warm(self, connections: int = 4) -> CounterHealth:
        """Open up to ``connections`` pooled connections and PING each; the answer says whether all did."""
        pool = self._client.connection_pool
        wanted = min(connections, pool.max_connections)
        held: list[AbstractConnection] = []
        try:
            # Taken one after another while the earlier ones are held, so each is a distinct socket;
            # the pool connects and checks each as it hands it out.
            for _ in range(wanted):
                # redis-py leaves get_connection unannotated (it wears a deprecation decorator).
                held.append(await pool.get_connection())  # type: ignore[no-untyped-call]
            for connection in held:
                await connection.send_command("PING")
                await connection.read_response()
        except _UNREACHABLE as error:
            self._unreachable(error)
            return CounterHealth(backend="redis", ok=False, policy=self.policy, detail=str(error))
        finally:
            for connection in held:
                await pool.release(connection)
        return self._ok(CounterHealth(backend="redis", ok=True, policy=self.policy))

    def _key(self, owner: str, kind: str, *parts: str) -> str:
        return ":".join((f"{{{self._prefix}:{_tag_part(owner, 'key_id')}}}", kind, *parts))

    def _unreachable(self, error: Exception) -> None:
        if self._reachable:
            logger.warning("redis counters unreachable (%s); applying %s", error, self.policy.value)
        self._reachable = False

    def _ok(self, value: _T) -> _T:
        if not self._reachable:
            logger.info("redis counters reachable again")
        self._reachable = True
        return value

    @property
    def _open(self) -> bool:
        return self.policy is FailurePolicy.FAIL_OPEN

    def _degraded_admission(self, remaining: int) -> Admission:
        if self._open:
            return Admission(allowed=True, remaining=remaining, degraded=True, slot="unshared")
        return Admission(allowed=False, remaining=0, retry_after=self._retry_after, degraded=True)

    async def reserve(self, key_id: str, rate: RateLimit, amount: int = 1) -> Admission:
        """Charge ``amount`` against ``rate`` if it fits in the window; charge nothing otherwise."""
        if amount < 0:
            raise UserError("a reservation cannot be negative", field="amount")
        key = self._key(key_id, "rate", rate.name)
        try:
            reply = await self._reserve(keys=[key], args=[repr(rate.window), rate.limit, amount, 0])
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._degraded_admission(rate.limit)
        return self._ok(_admission(reply, rate, amount))

    async def adjust(self, key_id: str, rate: RateLimit, delta: int) -> None:
        """Correct an earlier reservation once the real amount is known (``delta`` may be negative)."""
        key = self._key(key_id, "rate", rate.name)
        try:
            await self._reserve(keys=[key], args=[repr(rate.window), rate.limit, delta, 1])
        except _UNREACHABLE as error:
            self._unreachable(error)
            return
        self._ok(None)

    async def acquire_slot(self, key_id: str, *, limit: int, lease: float) -> Admission:
        """Take one of ``limit`` concurrency slots; it frees itself after ``lease`` seconds."""
        slot = secrets.token_hex(8)
        key = self._key(key_id, "slots")
        try:
            reply = await self._acquire(keys=[key], args=[repr(lease), limit, slot])
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._degraded_admission(limit)
        acquired, left, wait = int(reply[0]), int(reply[1]), float(reply[2])
        if acquired:
            return self._ok(Admission(allowed=True, remaining=left, slot=slot))
        return self._ok(Admission(allowed=False, remaining=0, retry_after=wait if wait >= 0 else math.inf))

    async def renew_slot(self, key_id: str, slot: str, lease: float) -> bool:
        """Extend a held slot's lease; false when it already expired (or Redis is down and failing closed)."""
        try:
            reply = await self._renew(keys=[self._key(key_id, "slots")], args=[repr(lease), slot])
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._open
        return self._ok(bool(int(reply)))

    async def release_slot(self, key_id: str, slot: str) -> None:
        """Give a slot back before its lease ends (when Redis is down, the lease ends it instead)."""
        try:
            await self._client.zrem(self._key(key_id, "slots"), slot)
        except _UNREACHABLE as error:
            self._unreachable(error)
            return
        self._ok(None)

    async def add_spend(self, key_id: str, cost: float, at: datetime | None = None) -> Spend:
        """Add ``cost`` to the key's day and month totals and return the new totals."""
        day, month = spend_periods(at)
        keys = [self._key(key_id, "spend", "day", day), self._key(key_id, "spend", "month", month)]
        try:
            reply = await self._add_spend(keys=keys, args=[repr(float(cost)), _DAY_TTL, _MONTH_TTL])
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._degraded_spend()
        return self._ok(Spend(day=float(reply[0]), month=float(reply[1])))

    async def spend(self, key_id: str, at: datetime | None = None) -> Spend:
        """The key's day and month totals (failing closed, an outage reads as an exhausted budget)."""
        day, month = spend_periods(at)
        keys = [self._key(key_id, "spend", "day", day), self._key(key_id, "spend", "month", month)]
        try:
            values = await self._client.mget(keys)
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._degraded_spend()
        return self._ok(Spend(day=float(values[0] or 0.0), month=float(values[1] or 0.0)))

    async def admit(
        self,
        key_id: str,
        reservations: Sequence[tuple[RateLimit, int]],
        *,
        slots: int | None = None,
        lease: float = 0.0,
        budget: tuple[float | None, float | None] | None = None,
        at: datetime | None = None,
    ) -> Batch:
        """Reserve every rate, take a slot and check the spend caps: one Lua round trip, all or nothing."""
        if any(amount < 0 for _, amount in reservations):
            raise UserError("a reservation cannot be negative", field="amount")
        tag = f"{{{self._prefix}:{_tag_part(key_id, 'key_id')}}}"
        day, month = spend_periods(at)
        keys = [f"{tag}:rate:{rate.name}" for rate, _ in reservations]
        keys += [f"{tag}:slots", f"{tag}:spend:day:{day}", f"{tag}:spend:month:{month}"]
        day_cap, month_cap = budget if budget is not None else (None, None)
        slot_id = secrets.token_hex(8) if slots is not None else ""
        args: list[str | int] = [
            len(reservations),
            -1 if slots is None else slots,
            repr(float(lease)),
            slot_id,
            -1 if day_cap is None else repr(float(day_cap)),
            -1 if month_cap is None else repr(float(month_cap)),
        ]
        for rate, amount in reservations:
            args += [repr(rate.window), rate.limit, amount]
        try:
            reply = await self._admit(keys=keys, args=args)
        except _UNREACHABLE as error:
            self._unreachable(error)
            return self._degraded_batch(reservations, slots, budget)
        rates = tuple(
            _admission(reply[1 + 4 * i : 5 + 4 * i], rate, amount)
            for i, (rate, amount) in enumerate(reservations)
        )
        tail = reply[1 + 4 * len(reservations) :]
        slot: Admission | None = None
        if slots is not None:
            wait = float(tail[2])
            if int(tail[0]):
                slot = Admission(allowed=True, remaining=int(tail[1]), slot=slot_id)
            else:
                slot = Admission(allowed=False, remaining=0, retry_after=wait if wait >= 0 else math.inf)
        spent = Spend(day=float(tail[3]), month=float(tail[4])) if budget is not None else None
        return self._ok(Batch(allowed=bool(int(reply[0])), rates=rates, slot=slot, spend=spent))

    def _degraded_batch(
        self,
        reservations: Sequence[tuple[RateLimit, int]],
        slots: int | None,
        budget: tuple[float | None, float | None] | None,
    ) -> Batch:
        rates = tuple(self._degraded_admission(rate.limit) for rate, _ in reservations)
        slot = self._degraded_admission(slots) if slots is not None else None
        spent = self._degraded_spend() if budget is not None else None
        return Batch(allowed=self._open, rates=rates, slot=slot, spend=spent)

    async def settle(
        self,
        key_id: str,
        adjustments: Sequence[tuple[RateLimit, int]],
        *,
        slot: str | None = None,
        cost: float = 0.0,
        at: datetime | None = None,
    ) -> None:
        """Correct reservations, free ``slot`` and add ``cost`` to the spend: one Lua round trip."""
        tag = f"{{{self._prefix}:{_tag_part(key_id, 'key_id')}}}"
        day, month = spend_periods(at)
        keys = [f"{tag}:slots", f"{tag}:spend:day:{day}", f"{tag}:spend:month:{month}"]
        keys += [f"{tag}:rate:{rate.name}" for rate, _ in adjustments]
        args: list[str | int] = [slot or "", repr(float(cost)) if cost else "", _DAY_TTL, _MONTH_TTL]
        for rate, delta in adjustments:
            args += [repr(rate.window), delta]
        try:
            await self._settle(keys=keys, args=args)
        except _UNREACHABLE as error:
            self._unreachable(error)
            return
        self._ok(None)

    def _degraded_spend(self) -> Spend:
        total = 0.0 if self._open else math.inf
        return Spend(day=total, month=total, degraded=True)

    async def open_circuit(self, deployment: str, ttl: float) -> None:
        """Mark a deployment's circuit open for ``ttl`` seconds, for every replica."""
        key = self._key(f"deployment:{deployment}", "circuit")
        try:
            await self._client.set(key, "open", px=max(math.ceil(ttl * 1000), 1))
        except _UNREACHABLE as error:
            self._unreachable(error)
            return
        self._ok(None)

    async def circuit(self, deployment: str) -> CircuitState:
        """Whether the deployment's circuit is open (failing closed, an outage reads as open)."""
        key = self._key(f"deployment:{deployment}", "circuit")
        try:
            milliseconds = int(await self._client.pttl(key))
        except _UNREACHABLE as error:
            self._unreachable(error)
            if self._open:
                return CircuitState(open=False, degraded=True)
            return CircuitState(open=True, retry_after=self._retry_after, degraded=True)
        if milliseconds <= 0:
            return self._ok(CircuitState(open=False))
        return self._ok(CircuitState(open=True, retry_after=milliseconds / 1000))

    async def health(self) -> CounterHealth:
        """Ping Redis; an unhealthy answer names the failure policy now in force."""
        try:
            await self._client.ping()
        except _UNREACHABLE as error:
            self._unreachable(error)
            detail = "admitting requests without shared limits" if self._open else "refusing requests"
            return CounterHealth(backend="redis", ok=False, policy=self.policy, detail=f"{error}; {detail}")
        return self._ok(CounterHealth(backend="redis", ok=True, policy=self.policy))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _admission(reply: Any, rate: RateLimit, amount: int) -> Admission:
    allowed = bool(int(reply[0]))
    previous, current, elapsed = float(reply[1]), float(reply[2]), float(reply[3])
    fits, remaining, retry_after = sliding_window(previous, current, elapsed, rate, amount)
    if allowed:
        return Admission(allowed=True, remaining=remaining if fits else 0)
    # Rounding in the reply can make the local rule see room the server did not; wait a moment then.
    return Admission(allowed=False, remaining=remaining, retry_after=retry_after if not fits else 0.001)

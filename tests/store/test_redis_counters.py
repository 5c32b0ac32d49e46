from __future__ import annotations

import asyncio
import math
import time

import pytest
from redis.asyncio import Redis

from claudegate.errors import UserError
from claudegate.store import FailurePolicy, RateLimit, RedisCounters
from tests._redis import PrivateRedis, free_port

from .conftest import REDIS_URL


def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


async def connections_named(name: str) -> int:
    admin: Redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    return sum(client.get("name") == name for client in clients)


@pytest.mark.parametrize("pool", ["cold", "warm"])
async def test_concurrent_reserves_from_two_pools_admit_exactly_the_limit(
    redis_prefix: str, pool: str
) -> None:
    # A burst on a cold pool used to open a socket per request and, on a busy machine, time out
    # connecting and refuse under fail_closed; the bounded pool queues the burst instead.
    if pool == "cold":
        replicas = [RedisCounters.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    else:
        replicas = [await RedisCounters.connect(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    rate = RateLimit("requests", limit=100, window=60)
    try:
        answers = await asyncio.gather(*(replicas[n % 2].reserve("key_a", rate) for n in range(200)))
    finally:
        for replica in replicas:
            await replica.close()
    assert not any(answer.degraded for answer in answers)
    assert sum(answer.allowed for answer in answers) == 100
    assert sorted(answer.remaining for answer in answers if answer.allowed) == list(range(100))


async def test_a_burst_waits_for_the_bounded_pool_instead_of_opening_more(redis_prefix: str) -> None:
    name = f"pool-{redis_prefix}"
    counters = RedisCounters.from_url(REDIS_URL, prefix=redis_prefix, max_connections=4, client_name=name)
    rate = RateLimit("requests", limit=1000, window=60)
    try:
        answers = await asyncio.gather(*(counters.reserve("key_a", rate) for _ in range(100)))
        opened = await connections_named(name)
    finally:
        await counters.close()
    assert all(answer.allowed and not answer.degraded for answer in answers)
    assert 1 <= opened <= 4


async def test_connect_opens_and_checks_connections_before_the_first_request(redis_prefix: str) -> None:
    name = f"warm-{redis_prefix}"
    counters = await RedisCounters.connect(REDIS_URL, prefix=redis_prefix, client_name=name, warm=3)
    try:
        assert await connections_named(name) == 3
        assert (await counters.health()).ok
    finally:
        await counters.close()
    assert await connections_named(name) == 0


async def test_connect_to_an_unreachable_redis_leaves_the_policy_in_charge() -> None:
    counters = await RedisCounters.connect(closed_port_url(), policy=FailurePolicy.FAIL_CLOSED)
    try:
        health = await counters.health()
        admission = await counters.reserve("key_a", RateLimit("requests", 1))
    finally:
        await counters.close()
    assert not health.ok and "refusing" in health.detail
    assert not admission.allowed and admission.degraded


async def test_a_command_on_a_stale_connection_is_retried_on_a_fresh_one(private_redis: PrivateRedis) -> None:
    private_redis.start()
    counters = RedisCounters.from_url(private_redis.url, policy=FailurePolicy.FAIL_CLOSED)
    rate = RateLimit("requests", limit=5, window=60)
    try:
        assert (await counters.reserve("key_a", rate)).allowed
        private_redis.kill()  # a restart: the pooled connection now points at a dead server
        private_redis.start()
        after = await counters.reserve("key_a", rate)
    finally:
        await counters.close()
    assert after.allowed and not after.degraded
    assert after.remaining == 4  # the new server started empty


async def test_concurrent_slot_requests_from_two_pools_get_exactly_the_limit(redis_prefix: str) -> None:
    replicas = [RedisCounters.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    try:
        answers = await asyncio.gather(
            *(replicas[n % 2].acquire_slot("key_a", limit=10, lease=30) for n in range(60))
        )
    finally:
        for replica in replicas:
            await replica.close()
    granted = [answer.slot for answer in answers if answer.allowed]
    assert len(granted) == 10
    assert len(set(granted)) == 10


async def test_a_keys_counters_share_one_hash_tag(redis_prefix: str) -> None:
    counters = RedisCounters.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        await counters.reserve("key_a", RateLimit("requests", 10))
        await counters.reserve("key_a", RateLimit("input_tokens", 1000), 10)
        await counters.acquire_slot("key_a", limit=2, lease=30)
        await counters.add_spend("key_a", 1.0)
        await counters.open_circuit("primary", 30)
    finally:
        await counters.close()
    client: Redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{{{redis_prefix}:*")]
    finally:
        await client.aclose()
    key_a = [key for key in keys if key.startswith(f"{{{redis_prefix}:key_a}}:")]
    assert len(key_a) == 5  # two rate windows, the slots, day and month spend
    assert [key for key in keys if key not in key_a] == [f"{{{redis_prefix}:deployment:primary}}:circuit"]


async def test_scripts_are_reloaded_when_redis_forgot_them(redis_prefix: str) -> None:
    counters = RedisCounters.from_url(REDIS_URL, prefix=redis_prefix)
    rate = RateLimit("requests", limit=2, window=60)
    try:
        assert (await counters.reserve("key_a", rate)).allowed
        admin: Redis = Redis.from_url(REDIS_URL)
        await admin.script_flush()
        await admin.aclose()
        assert (await counters.reserve("key_a", rate)).allowed
        assert not (await counters.reserve("key_a", rate)).allowed
    finally:
        await counters.close()


async def test_ids_that_would_break_the_hash_tag_are_refused(redis_prefix: str) -> None:
    counters = RedisCounters.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        with pytest.raises(UserError):
            await counters.reserve("key}{a", RateLimit("requests", 1))
    finally:
        await counters.close()


async def test_failing_open_admits_and_says_so() -> None:
    counters = RedisCounters.from_url(closed_port_url(), policy=FailurePolicy.FAIL_OPEN, timeout=0.5)
    started = time.monotonic()
    try:
        admission = await counters.reserve("key_a", RateLimit("requests", 1))
        slot = await counters.acquire_slot("key_a", limit=1, lease=30)
        circuit = await counters.circuit("primary")
        spend = await counters.spend("key_a")
        await counters.adjust("key_a", RateLimit("requests", 1), 5)
        await counters.release_slot("key_a", "any")
        await counters.open_circuit("primary", 5)
        health = await counters.health()
    finally:
        await counters.close()
    assert time.monotonic() - started < 5
    assert admission.allowed and admission.degraded
    assert slot.allowed and slot.degraded
    assert not circuit.open and circuit.degraded
    assert (spend.day, spend.month, spend.degraded) == (0.0, 0.0, True)
    assert not health.ok
    assert health.policy is FailurePolicy.FAIL_OPEN
    assert "admitting" in health.detail


async def test_failing_closed_refuses_and_says_so() -> None:
    counters = RedisCounters.from_url(closed_port_url(), policy=FailurePolicy.FAIL_CLOSED, timeout=0.5)
    try:
        admission = await counters.reserve("key_a", RateLimit("requests", 1))
        slot = await counters.acquire_slot("key_a", limit=1, lease=30)
        circuit = await counters.circuit("primary")
        spend = await counters.add_spend("key_a", 0.5)
        health = await counters.health()
    finally:
        await counters.close()
    assert not admission.allowed and admission.degraded and admission.retry_after > 0
    assert not slot.allowed and slot.degraded
    assert circuit.open and circuit.degraded
    assert math.isinf(spend.day) and spend.degraded
    assert not health.ok
    assert health.policy is FailurePolicy.FAIL_CLOSED
    assert "refusing" in health.detail


@pytest.mark.parametrize("policy", [FailurePolicy.FAIL_OPEN, FailurePolicy.FAIL_CLOSED])
async def test_a_whole_batch_follows_the_failure_policy(policy: FailurePolicy) -> None:
    counters = RedisCounters.from_url(closed_port_url(), policy=policy, timeout=0.5)
    try:
        batch = await counters.admit(
            "key_a", [(RateLimit("requests", 5), 1)], slots=1, lease=30, budget=(1.0, None)
        )
        await counters.settle("key_a", [(RateLimit("requests", 5), -1)], slot="any", cost=0.5)
    finally:
        await counters.close()
    admitted = policy is FailurePolicy.FAIL_OPEN
    assert batch.allowed is admitted
    assert all(answer.degraded and answer.allowed is admitted for answer in batch.rates)
    assert batch.slot is not None and batch.slot.degraded and batch.slot.allowed is admitted
    assert batch.spend is not None and batch.spend.degraded
    assert math.isinf(batch.spend.day) is not admitted

"""A Redis restart under a gateway whose pool is full of connections to the old server: no spurious
refusal (fail_closed) and no over-admission (fail_open) — every stale connection is retried once
on a fresh one before the failure policy applies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests._redis import PrivateRedis
from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route

ASK = {"model": "claude-sonnet-5", "max_tokens": 8, "messages": [{"role": "user", "content": "count me"}]}
LIMIT = 60
SLOW = {"x-sim-latency": "ttft=0.2"}  # keeps requests in flight together, so the pool opens many


def burst(base_url: str, count: int, headers: dict[str, str] | None = None) -> list[int]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: _wire.messages(base_url, ASK, headers).status, range(count)))


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_a_redis_restart_causes_no_spurious_refusal_and_no_over_admission(
    private_redis: PrivateRedis, policy: str
) -> None:
    private_redis.start()
    config = {
        "models": [simulator_route()],
        "limits": {"per_key": {"requests_per_minute": LIMIT}},
        "storage": {
            "database_url": "sqlite+aiosqlite:///:memory:",  # the ledger: not a file where the tests run
            "redis_url": private_redis.url,
            "redis_failure_policy": policy,
            "redis_prefix": "restart",
        },
    }
    with serve(config) as live:
        # Concurrent requests fill the pool with connections to this server.
        assert burst(live.base_url, 30, SLOW) == [200] * 30
        private_redis.kill()
        private_redis.start()  # empty: the counts start again from zero
        statuses = burst(live.base_url, LIMIT)
        assert statuses == [200] * LIMIT  # not one refused because its connection was stale
        refused = _wire.messages(live.base_url, ASK)
        assert refused.status == 429  # and not one more admitted than the limit
        assert "unavailable" not in refused.json()["error"]["message"]

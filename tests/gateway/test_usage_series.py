"""The dashboard's time series from the usage rollups: windows aligned to their buckets, the
busiest groups kept, the rest folded into ``other`` (latencies merged as histograms), a call made
a moment ago included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from claudegate.gateway import parse_config
from claudegate.gateway.core import GatewayError, usage_series
from claudegate.gateway.core._policies import Policies
from claudegate.store import UsageRecord

NOW = datetime(2026, 3, 2, 10, 30, 15, tzinfo=UTC)


@pytest.fixture
async def policies(tmp_path: Path) -> AsyncIterator[Policies]:
    route = {"name": "*", "deployments": [{"provider": "simulator"}]}
    config = parse_config(
        {"models": [route], "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}}
    )
    found = Policies(config)
    await found.start()
    yield found
    await found.close()


def record(number: int, model: str, minutes_ago: float, latency: float, status: int = 200) -> UsageRecord:
    return UsageRecord(
        request_id=f"req_{number}",
        key_id=None,
        model=model,
        deployment="primary",
        input_tokens=10,
        output_tokens=2,
        cost=0.01,
        latency_ms=latency,
        status=status,
        time=NOW - timedelta(minutes=minutes_ago),
    )


def total(series: list[float | None]) -> float:
    return sum(value or 0.0 for value in series)


async def test_the_busiest_groups_are_kept_and_the_rest_folded_into_other(policies: Policies) -> None:
    assert policies.writer is not None
    rows = [record(n, "busy", 0.1, 100.0) for n in range(5)]
    rows += [record(100 + n, f"model-{n:02d}", 30, 1_000.0 + n) for n in range(9)]  # nine quiet ones
    rows.append(record(200, "busy", 90, 5.0))  # before the hour: outside the window
    for row in rows:
        policies.writer.record(row)  # queued, not yet written: the series writes them first
    series = await usage_series(policies, "hour", "model", NOW.timestamp())
    assert series.bucket == "minute" and len(series.times) == 60
    assert series.times[-1] == int(NOW.replace(second=0).timestamp())  # the current minute, partial
    assert series.groups == ["busy", *(f"model-{n:02d}" for n in range(6)), "other"]
    requests = dict(zip(series.groups, series.values["requests"], strict=True))
    assert requests["busy"][-1] == 5 and total(requests["busy"]) == 5
    assert total(requests["other"]) == 3  # model-06 … model-08
    p50 = dict(zip(series.groups, series.values["latency_ms_p50"], strict=True))
    assert p50["busy"][-1] is not None and 90 < p50["busy"][-1] < 115
    other = [value for value in p50["other"] if value is not None]
    assert len(other) == 1 and 900 < other[0] < 1_100  # 1,006 to 1,008 ms, within a bin
    assert series.totals["requests"] == 14 and series.totals["cost_usd"] == pytest.approx(0.14)


async def test_windows_and_bad_parameters(policies: Policies) -> None:
    assert policies.writer is not None
    policies.writer.record(record(1, "m", 60 * 30, 10.0, status=529))  # 30 hours ago
    week = await usage_series(policies, "week", "deployment", NOW.timestamp())
    assert week.bucket == "day" and len(week.times) == 7 and week.groups == ["primary"]
    assert week.values["errors"] == [[0, 0, 0, 0, 0, 1, 0]]
    day = await usage_series(policies, "day", "key", NOW.timestamp())
    assert day.groups == [] and day.totals["requests"] == 0
    with pytest.raises(GatewayError) as raised:
        await usage_series(policies, "month", "model", NOW.timestamp())
    assert raised.value.status == 400 and raised.value.param == "window"
    with pytest.raises(GatewayError) as raised:
        await usage_series(policies, "hour", "colour", NOW.timestamp())
    assert raised.value.param == "group_by"

"""Quotas and prices: refusal before sending, usage recorded from real answers, periods, JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from claudegate.client import (
    PRICES,
    AsyncClient,
    ModelPrice,
    QuotaLimit,
    QuotaManager,
    cost_of_usage,
    price_for_model,
)
from claudegate.errors import QuotaExceededError, UserError
from claudegate.simulator import DEFAULT_MODELS, SimulatorApp, create_app
from claudegate.testing import LiveServer

KEY = "sk-ant-sim-test-000000"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 40,
    "messages": [{"role": "user", "content": "Tell me about lighthouses"}],
}


class Calendar:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_every_simulator_model_has_a_price() -> None:
    for model in DEFAULT_MODELS:
        assert price_for_model(model.id) is not None, model.id
    assert price_for_model("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]
    assert price_for_model("no-such-model") is None


def test_cost_counts_each_kind_of_token_at_its_price() -> None:
    price = ModelPrice(input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0, cache_read=0.3)
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "cache_read_input_tokens": 1_000_000,
        "cache_creation_input_tokens": 300_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 100_000, "ephemeral_1h_input_tokens": 200_000},
    }
    assert cost_of_usage(usage, price) == pytest.approx(3.0 + 1.5 + 0.3 + 0.375 + 1.2)


def test_request_limit_per_model_and_day_rollover() -> None:
    calendar = Calendar()
    quota = QuotaManager([QuotaLimit("requests", "day", 2, model="claude-opus-5")], now=calendar)
    for _ in range(2):
        quota.check("claude-opus-5")
        quota.record("claude-opus-5", {"input_tokens": 10, "output_tokens": 5})
    quota.check("claude-sonnet-5")  # other models are not limited by it
    with pytest.raises(QuotaExceededError) as refused:
        quota.check("claude-opus-5")
    assert refused.value.quota == "day.requests[claude-opus-5]"
    calendar.now += timedelta(hours=2)  # a new day (and a new month)
    quota.check("claude-opus-5")
    assert quota.usage("month") == {"requests": 0.0, "tokens": 0.0, "cost": 0.0}


def test_token_and_cost_limits_use_the_estimate() -> None:
    quota = QuotaManager([QuotaLimit("tokens", "month", 1000)])
    quota.record("claude-sonnet-5", {"input_tokens": 600, "output_tokens": 200})
    quota.check("claude-sonnet-5", estimated_tokens=200)
    with pytest.raises(QuotaExceededError) as refused:
        quota.check("claude-sonnet-5", estimated_tokens=201)
    assert refused.value.quota == "month.tokens"
    spent = quota.usage()["cost"]
    assert spent == pytest.approx((600 * 2.0 + 200 * 10.0) / 1e6)
    budget = QuotaManager([QuotaLimit("cost", "day", 0.01)])
    budget.record("claude-opus-5", {"output_tokens": 400})  # 400 x $25/M = $0.01
    with pytest.raises(QuotaExceededError) as over_budget:
        budget.check("claude-haiku-4-5")
    assert over_budget.value.quota == "day.cost"
    assert budget.remaining()["day.cost"] == 0.0


def test_state_survives_a_json_round_trip() -> None:
    calendar = Calendar()
    limits = [QuotaLimit("requests", "month", 3)]
    first = QuotaManager(limits, now=calendar)
    for _ in range(3):
        first.record("claude-haiku-4-5", {"input_tokens": 1})
    second = QuotaManager(limits, now=calendar)
    second.load_json(first.to_json())
    with pytest.raises(QuotaExceededError):
        second.check("claude-haiku-4-5")
    with pytest.raises(UserError):
        second.load_json(b"[1, 2]")
    with pytest.raises(UserError):
        QuotaLimit("requests", "day", -1)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app()
    with LiveServer(app) as server:
        yield app, server.base_url


async def test_refused_calls_are_never_sent(sim: tuple[SimulatorApp, str]) -> None:
    app, base_url = sim
    app.simulator.log.clear()
    quota = QuotaManager([QuotaLimit("tokens", "day", 60)])
    async with AsyncClient(api_key=KEY, base_url=base_url) as client:
        refused = 0
        for _ in range(5):
            try:
                quota.check(ASK["model"])
            except QuotaExceededError:
                refused += 1
                continue
            message = await client.messages.create(**ASK)
            quota.record(ASK["model"], message.usage.model_dump())
    sent = len(app.simulator.log.entries())
    assert sent >= 1 and refused == 5 - sent
    assert quota.usage()["requests"] == sent and quota.usage()["tokens"] >= 60

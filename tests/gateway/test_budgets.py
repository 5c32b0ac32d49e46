"""Budgets: spend per key and day or month from the price table, refused once spent, and each
answer's cost in ``x-claudegate-cost-usd`` (the admission estimate for streams)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.client import cost_of_usage, price_for_model
from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-tests-0123456789"
ASK = {"model": "claude-sonnet-5", "max_tokens": 30, "messages": [{"role": "user", "content": "hello there"}]}


def real_cost(usage: dict[str, Any]) -> float:
    price = price_for_model("claude-sonnet-5")
    assert price is not None
    return cost_of_usage(usage, price)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
    }


def new_key(base_url: str, budget: dict[str, float]) -> str:
    reply = _wire.call(
        base_url, "POST", "/admin/keys", {"name": "b", "budget": budget}, {"authorization": f"Bearer {ADMIN}"}
    )
    assert reply.status == 201
    key: str = reply.json()["key"]
    return key


@pytest.mark.parametrize("period", ["cost_per_day", "cost_per_month"])
def test_a_key_is_refused_once_its_budget_is_spent(config: dict[str, Any], period: str) -> None:
    cap = 0.0003
    with serve(config) as live:
        key = new_key(live.base_url, {period: cap})
        spent: list[float] = []
        replies = []
        for _ in range(20):
            reply = _wire.messages(live.base_url, ASK, {"x-api-key": key})
            replies.append(reply)
            if reply.status != 200:
                break
            spent.append(real_cost(reply.json()["usage"]))
        refused_openai = _wire.chat(live.base_url, ASK, {"authorization": f"Bearer {key}"})
    refused = replies[-1]
    assert refused.status == 429 and len(spent) >= 2
    assert sum(spent) >= cap > sum(spent[:-1])  # refused exactly once the cap was reached
    word = "daily" if period == "cost_per_day" else "monthly"
    assert f"{word} budget" in refused.json()["error"]["message"]
    assert refused_openai.status == 429 and refused_openai.json()["error"]["type"] == "rate_limit_error"


def test_json_answers_carry_their_real_cost(config: dict[str, Any]) -> None:
    with serve(config) as live:
        reply = _wire.messages(live.base_url, ASK)
        chat = _wire.chat(live.base_url, ASK)
    assert float(reply.headers["x-claudegate-cost-usd"]) == pytest.approx(
        real_cost(reply.json()["usage"]), abs=1e-6
    )
    usage = chat.json()["usage"]
    expected = real_cost(
        {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}
    )
    assert float(chat.headers["x-claudegate-cost-usd"]) == pytest.approx(expected, abs=1e-6)


def test_streams_carry_the_admission_estimate(config: dict[str, Any]) -> None:
    body = {**ASK, "stream": True}
    with serve(config) as live:
        reply = _wire.messages(live.base_url, body)
    events = _wire.anthropic_events(reply.body)
    usage = {**events[0]["message"]["usage"], **events[-2]["usage"]}
    estimate = real_cost({"input_tokens": math.ceil(len(orjson.dumps(body)) / 3), "output_tokens": 30})
    header = float(reply.headers["x-claudegate-cost-usd"])
    assert header == pytest.approx(estimate, abs=1e-6)
    assert header >= real_cost(usage)

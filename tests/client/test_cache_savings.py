"""What the prompt cache saved, and the cost of the client's own typed usage."""

from __future__ import annotations

import pytest

from claudegate.client import (
    PRICES,
    AsyncClient,
    CacheUsage,
    ModelPrice,
    cache_system,
    cost_of_usage,
    price_for_model,
)
from claudegate.errors import UserError
from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer
from claudegate.types import Usage

KEY = "sk-ant-sim-test-000000"
PRICE = ModelPrice(input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0, cache_read=0.3)
WIRE_USAGE = {
    "input_tokens": 1_000_000,
    "output_tokens": 100_000,
    "cache_read_input_tokens": 1_000_000,
    "cache_creation_input_tokens": 300_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 100_000, "ephemeral_1h_input_tokens": 200_000},
}


def test_cost_of_the_typed_usage_equals_the_cost_of_its_dict() -> None:
    typed = Usage.model_validate(WIRE_USAGE)
    assert cost_of_usage(typed, PRICE) == pytest.approx(3.0 + 1.5 + 0.3 + 0.375 + 1.2)
    assert cost_of_usage(typed, PRICE) == cost_of_usage(WIRE_USAGE, PRICE)
    bare = Usage(input_tokens=2_000_000, output_tokens=0)  # no cache fields at all
    assert cost_of_usage(bare, PRICE) == pytest.approx(6.0)


def test_reading_the_cache_saves_against_sending_the_prompt_uncached() -> None:
    cache = CacheUsage.from_usage(
        {"input_tokens": 100, "cache_read_input_tokens": 9_900, "output_tokens": 50}
    )
    savings = cache.savings(PRICE)
    assert savings.tokens_saved == cache.tokens_saved == 9_900
    # uncached: 10 000 input at 3.0 + 50 output at 15.0; cached: 100 at 3.0 + 9 900 at 0.3 + output
    assert savings.uncached_cost == pytest.approx((10_000 * 3.0 + 50 * 15.0) / 1e6)
    assert savings.cost == pytest.approx((100 * 3.0 + 9_900 * 0.3 + 50 * 15.0) / 1e6)
    assert savings.dollars_saved == pytest.approx(9_900 * (3.0 - 0.3) / 1e6)
    assert 0.8 < savings.saved_fraction < 0.9


def test_writing_the_cache_costs_extra_at_the_write_premium_of_its_lifetime() -> None:
    first = CacheUsage.from_usage(Usage.model_validate(WIRE_USAGE | {"cache_read_input_tokens": 0}))
    assert (first.cache_write, first.cache_write_1h) == (300_000, 200_000)
    savings = first.savings(PRICE)
    # 100k written at 5 minutes (+0.75 per M over input) and 200k at 1 hour (+3.0 per M)
    assert savings.dollars_saved == pytest.approx(-(100_000 * 0.75 + 200_000 * 3.0) / 1e6)
    assert savings.tokens_saved == 0


def test_savings_by_model_name_use_the_price_table() -> None:
    cache = CacheUsage(uncached_input=0, cache_write=0, cache_read=1_000_000, output=0)
    table = PRICES["claude-sonnet-4-5"]
    assert cache.savings("claude-sonnet-4-5-20250929").dollars_saved == pytest.approx(
        table.input - table.cache_read
    )
    with pytest.raises(UserError) as unknown:
        cache.savings("no-such-model")
    assert unknown.value.field == "model"


async def test_a_conversation_on_the_simulator_saves_once_its_prompt_is_cached() -> None:
    config = SimulatorConfig(cache_min_tokens=64)
    system = cache_system("You answer questions about harbour tides and nothing else. " * 40)
    with LiveServer(create_app(config)) as server:
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            turns = []
            for question in ("When is high tide?", "And low tide?"):
                message = await client.messages.create(
                    model="claude-sonnet-5",
                    max_tokens=32,
                    system=system,
                    messages=[{"role": "user", "content": question}],
                )
                turns.append((CacheUsage.from_usage(message.usage), message.usage))
    price = price_for_model("claude-sonnet-5")
    assert price is not None
    (first, first_usage), (second, second_usage) = turns
    assert first.cache_write > 0 and first.savings(price).dollars_saved < 0
    assert second.cache_read == first.cache_write and second.savings(price).dollars_saved > 0
    both = first + second
    assert both.savings(price).cost == pytest.approx(
        cost_of_usage(first_usage, price) + cost_of_usage(second_usage, price)
    )
    assert both.savings(price).dollars_saved > 0  # the second turn paid back the first's write

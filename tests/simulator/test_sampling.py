"""The live API's sampling rules, per model: current models refuse ``temperature`` with ``top_p``
(any values, ``-1`` included) with the live API's exact message; ``-1`` is "unset" for ``top_k``
and ``top_p``; older models take both."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from claudegate.errors import BadRequestError
from claudegate.simulator import ModelSpec, Simulator, SimulatorConfig

BOTH = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
N8N_SAMPLING: dict[str, Any] = {"temperature": 1, "top_k": -1, "top_p": -1}
ASK: dict[str, Any] = {"max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}


async def test_a_current_model_refuses_both_samplers(
    client: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        await client.messages.create(model="claude-sonnet-5", extra_body=N8N_SAMPLING, **ASK)
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": BOTH},
        "request_id": raised.value.request_id,
    }


async def test_an_older_model_takes_the_n8n_request(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model="claude-3-haiku-20240307", extra_body=N8N_SAMPLING, **ASK)
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    "sampling",
    [{"temperature": 1, "top_k": -1}, {"top_p": -1, "top_k": -1}, {"top_p": 0.5}, {"temperature": 0}],
)
def test_one_sampler_and_unset_sentinels_are_accepted(sampling: dict[str, Any]) -> None:
    assert Simulator().create({"model": "claude-sonnet-5", **sampling, **ASK})["type"] == "message"


@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        ({"top_k": -2}, "top_k: Input should be a non-negative integer"),
        ({"top_p": -0.5}, "top_p: Input should be between 0 and 1"),
        ({"temperature": -1}, "temperature: Input should be between 0 and 1"),
        ({"temperature": 0.5, "top_p": 0.5}, BOTH),
    ],
)
def test_other_values_are_refused(sampling: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        Simulator().create({"model": "claude-sonnet-5", **sampling, **ASK})
    assert raised.value.message == message


def test_the_rule_is_a_per_model_setting() -> None:
    spec = ModelSpec(
        id="claude-custom",
        display_name="Custom",
        created_at="2026-01-01T00:00:00Z",
        aliases=("custom",),
        exclusive_temperature_top_p=False,
    )
    simulator = Simulator(SimulatorConfig(models=(spec,)))
    for name in ("claude-custom", "custom"):
        assert simulator.create({"model": name, "temperature": 0.5, "top_p": 0.5, **ASK})["type"] == "message"

"""Structured outputs through every route, with the official SDKs' parse helpers.

Anthropic clients send ``output_config.format``, OpenAI clients ``response_format``; each must
come back as valid JSON text the SDK parses into the model, whatever the upstream speaks, and an
OpenAI upstream must be asked with ``response_format`` (not a forced tool).
"""

from __future__ import annotations

import anthropic
import openai
import pytest
from pydantic import BaseModel

from tests.gateway.dialects._routes import ROUTES, Routes


class Berth(BaseModel):
    name: str
    depth_m: float


class PortInfo(BaseModel):
    port: str
    open_now: bool
    berths: list[Berth]


QUESTION = "Describe the port of Hull and its berths."


@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_messages_parse_gets_the_model(claude: anthropic.Anthropic, route: str) -> None:
    message = claude.messages.parse(
        model=f"route-{route}",
        max_tokens=400,
        messages=[{"role": "user", "content": QUESTION}],
        output_format=PortInfo,
    )
    assert isinstance(message.parsed_output, PortInfo)
    assert message.stop_reason == "end_turn" and [b.type for b in message.content] == ["text"]
    with claude.messages.stream(
        model=f"route-{route}",
        max_tokens=400,
        messages=[{"role": "user", "content": QUESTION}],
        output_format=PortInfo,
    ) as stream:
        final = stream.get_final_message()
    assert final.parsed_output == message.parsed_output


@pytest.mark.parametrize("route", ROUTES)
def test_openai_chat_completions_parse_gets_the_model(gpt: openai.OpenAI, route: str) -> None:
    completion = gpt.chat.completions.parse(
        model=f"route-{route}", messages=[{"role": "user", "content": QUESTION}], response_format=PortInfo
    )
    choice = completion.choices[0]
    assert isinstance(choice.message.parsed, PortInfo)
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    with gpt.chat.completions.stream(
        model=f"route-{route}", messages=[{"role": "user", "content": QUESTION}], response_format=PortInfo
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == choice.message.parsed


def test_an_openai_upstream_is_asked_with_response_format(
    routes: Routes, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    routes.upstream.simulator.log.clear()
    claude.messages.parse(
        model="route-openai",
        max_tokens=400,
        messages=[{"role": "user", "content": QUESTION}],
        output_format=PortInfo,
    )
    gpt.chat.completions.parse(
        model="route-openai", messages=[{"role": "user", "content": QUESTION}], response_format=PortInfo
    )
    sent = routes.log("/v1/chat/completions")
    assert len(sent) == 2
    for entry in sent:
        assert entry["status"] == 200
        assert "response_format" in entry["fields"]
        assert "tools" not in entry["fields"] and "tool_choice" not in entry["fields"]


def test_an_anthropic_upstream_is_asked_with_output_config(routes: Routes, gpt: openai.OpenAI) -> None:
    routes.upstream.simulator.log.clear()
    gpt.chat.completions.parse(
        model="route-anthropic", messages=[{"role": "user", "content": QUESTION}], response_format=PortInfo
    )
    (entry,) = routes.log("/v1/messages")
    assert "output_config" in entry["fields"] and "tools" not in entry["fields"]


def test_json_object_mode_still_answers_json_on_every_route(gpt: openai.OpenAI) -> None:
    for route in ROUTES:
        completion = gpt.chat.completions.create(
            model=f"route-{route}",
            messages=[{"role": "user", "content": "Give me a JSON object about Hull."}],
            response_format={"type": "json_object"},
        )
        content = completion.choices[0].message.content
        assert content is not None and content.startswith("{"), route

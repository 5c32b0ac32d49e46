"""``SalesforceProvider`` over real sockets, against the simulator's Salesforce mode."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from claudegate.errors import APIConnectionError, AuthenticationError, NotFoundError, UserError
from claudegate.gateway.core import classify
from claudegate.providers.salesforce import DEFAULT_MODEL_MAP
from claudegate.simulator import Simulator
from claudegate.sse import validate_anthropic_events
from tests.providers._salesforce import ASK, SONNET, Upstream, request, text_of

# -- tokens --------------------------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(upstream: Upstream) -> None:
    provider = upstream.provider()
    for _ in range(3):
        await provider.create(request())
    assert upstream.kinds() == ["token", "chat", "chat", "chat"]
    assert [entry["status"] for entry in upstream.app.log] == [200] * 4


async def test_concurrent_callers_share_one_token_fetch(upstream: Upstream) -> None:
    provider = upstream.provider()
    answers = await asyncio.gather(*(provider.create(request()) for _ in range(6)))
    assert len(answers) == 6 and upstream.kinds().count("token") == 1


async def test_a_token_about_to_expire_is_renewed_before_use(upstream: Upstream) -> None:
    now = [time.time()]
    provider = upstream.provider(clock=lambda: now[0])
    await provider.create(request())
    # The simulator's tokens live 30 minutes (the JWT's exp); renewal starts 60 s before that.
    now[0] += 1800 - 62
    await provider.create(request())
    now[0] += 4
    await provider.create(request())
    assert upstream.kinds() == ["token", "chat", "chat", "token", "chat"]


async def test_401_renews_the_token_and_retries_once(upstream: Upstream) -> None:
    provider = upstream.provider()
    await provider.create(request())
    upstream.app.expire_tokens()
    message = (await provider.create(request())).message
    assert "harbour lights" in text_of(message)
    assert upstream.kinds() == ["token", "chat", "chat", "token", "chat"]
    assert [entry["status"] for entry in upstream.chats()] == [200, 401, 200]


async def test_a_second_401_is_an_authentication_error(upstream: Upstream) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await upstream.provider().create(request(fault="401"))
    assert caught.value.status_code == 401 and caught.value.attempts == 2
    assert upstream.kinds() == ["token", "chat", "token", "chat"]


async def test_a_wrong_secret_never_shows_the_secret(upstream: Upstream) -> None:
    secret = "wrong-secret-7f3a9c"
    provider = upstream.provider(secret)
    with pytest.raises(AuthenticationError) as caught:
        await provider.create(request())
    error = caught.value
    assert "invalid_client" in str(error) and error.status_code == 401
    for shown in (str(error), repr(error), repr(error.body), repr(error.headers), repr(provider)):
        assert secret not in shown
    assert upstream.kinds() == ["token"]


async def test_api_base_url_overrides_the_token_answer(upstream: Upstream) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    provider = upstream.provider(api_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(APIConnectionError):
        await provider.create(request())
    assert upstream.kinds() == ["token"]


# -- model names and translation -----------------------------------------------------------------


async def test_claude_names_map_to_salesforce_names(upstream: Upstream) -> None:
    provider = upstream.provider()
    message = (await provider.create(request({**ASK, "model": "claude-sonnet-4-5-20250929"}))).message
    await provider.create(request({**ASK, "model": SONNET}))
    assert [entry["model"] for entry in upstream.chats()] == [SONNET, SONNET]
    assert message["model"] == "claude-sonnet-4-5-20250929"
    assert DEFAULT_MODEL_MAP["claude-haiku-4-5"] == "sfdc_ai__DefaultBedrockAnthropicClaude45Haiku"
    assert DEFAULT_MODEL_MAP["claude-3-7-sonnet-20250219"] == "sfdc_ai__DefaultBedrockAnthropicClaude37Sonnet"


async def test_unknown_names_pass_through_and_model_map_adds_names(upstream: Upstream) -> None:
    with pytest.raises(NotFoundError) as caught:
        await upstream.provider().create(request({**ASK, "model": "sfdc_ai__MyConfiguredModel"}))
    assert caught.value.status_code == 404 and caught.value.attempts == 1
    five = "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet"
    provider = upstream.provider(model_map={"claude-sonnet-5": five})
    message = (await provider.create(request({**ASK, "model": "claude-sonnet-5"}))).message
    assert [entry["model"] for entry in upstream.chats()] == ["sfdc_ai__MyConfiguredModel", five]
    assert message["model"] == "claude-sonnet-5" and provider.model_map["claude-sonnet-4-5"] == SONNET


async def test_text_round_trip(upstream: Upstream) -> None:
    body = {
        **ASK,
        "system": [{"type": "text", "text": "You answer like a lighthouse keeper"}],
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [{"type": "text", "text": "Good evening"}]},
            {"role": "user", "content": [{"type": "text", "text": "Describe the harbour lights at dusk"}]},
        ],
    }
    response = await upstream.provider().create(request(body))
    message = response.message
    # The simulator answers the same conversation, seen as the engine would see it.
    seen = {
        **body,
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": "You answer like a lighthouse keeper",
        "messages": [{"role": m["role"], "content": text_of_turn(m)} for m in body["messages"]],
    }
    expected = Simulator().create(seen)
    assert text_of(message) == text_of(expected) and "harbour lights at dusk" in text_of(message)
    assert message["stop_reason"] == "end_turn" and message["stop_sequence"] is None
    assert message["usage"]["input_tokens"] == Simulator().count_tokens(seen)
    assert message["usage"]["output_tokens"] == expected["usage"]["output_tokens"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant"


def text_of_turn(turn: dict[str, Any]) -> str:
    content = turn["content"]
    return content if isinstance(content, str) else "".join(block["text"] for block in content)


async def test_stream_replays_the_answer_as_valid_events(upstream: Upstream) -> None:
    provider = upstream.provider()
    whole = (await provider.create(request())).message
    stream = await provider.stream(request({**ASK, "stream": True}))
    events = [event async for event in stream.events()]
    assert not stream.native
    replayed = validate_anthropic_events(events)
    assert text_of(replayed) == text_of(whole) and replayed["stop_reason"] == whole["stop_reason"]
    assert replayed["usage"]["output_tokens"] == whole["usage"]["output_tokens"]
    assert len(upstream.chats()) == 2


async def test_stop_sequences_are_applied_to_the_answer(upstream: Upstream) -> None:
    provider = upstream.provider()
    full = text_of((await provider.create(request())).message)
    cut = (await provider.create(request({**ASK, "stop_sequences": ["zebra", "harbour"]}))).message
    assert text_of(cut) == full[: full.index("harbour")]
    assert cut["stop_reason"] == "stop_sequence" and cut["stop_sequence"] == "harbour"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ASK, "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}, "tools"),
        ({**ASK, "tool_choice": {"type": "any"}}, "tool_choice"),
        (
            {**ASK, "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}]},
            "mcp_servers",
        ),
        (
            {
                **ASK,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                            {"type": "text", "text": "What is this?"},
                        ],
                    }
                ],
            },
            "messages[0].content[0]",
        ),
        (
            {
                **ASK,
                "messages": [
                    {"role": "user", "content": "Weather?"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}],
                    },
                ],
            },
            "messages[1].content[0]",
        ),
    ],
)
async def test_what_the_api_cannot_carry_is_a_400_naming_the_field(
    upstream: Upstream, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(UserError) as caught:
        await upstream.provider().create(request(body))
    assert caught.value.field == field and caught.value.message.startswith(field)
    answer = classify(caught.value)
    assert (answer.status, answer.error_type, answer.param) == (400, "invalid_request_error", field)
    assert upstream.app.log == []  # refused before any token or request went out


async def test_thinking_in_the_history_is_left_out(upstream: Upstream) -> None:
    thinking = {"type": "thinking", "thinking": "private notes", "signature": "sig"}
    body = {
        **ASK,
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [thinking, {"type": "text", "text": "Good evening"}]},
            {"role": "user", "content": "Describe the harbour lights at dusk"},
        ],
    }
    plain = {
        **body,
        "messages": [
            body["messages"][0],
            {"role": "assistant", "content": "Good evening"},
            body["messages"][2],
        ],
    }
    provider = upstream.provider()
    with_thinking = (await provider.create(request(body))).message
    assert text_of(with_thinking) == text_of((await provider.create(request(plain))).message)


async def test_search_results_reach_the_model_as_text_naming_their_source(upstream: Upstream) -> None:
    found = {
        "type": "search_result",
        "source": "guide.md#0",
        "title": "guide.md",
        "content": [{"type": "text", "text": "Budgets cap spending."}],
        "citations": {"enabled": True},
    }
    body = {**ASK, "messages": [{"role": "user", "content": [found, {"type": "text", "text": "What caps?"}]}]}
    header = "Search result (source: guide.md#0; title: guide.md)"
    plain = {
        **ASK,
        "messages": [{"role": "user", "content": f"{header}\nBudgets cap spending.\n\nWhat caps?"}],
    }
    provider = upstream.provider()
    assert text_of((await provider.create(request(body))).message) == text_of(
        (await provider.create(request(plain))).message
    )


async def test_count_tokens_is_not_offered(upstream: Upstream) -> None:
    assert await upstream.provider().count_tokens(request()) is None
    assert upstream.app.log == []

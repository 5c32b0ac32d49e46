"""The simulator over a real socket, driven by the official ``anthropic`` SDK."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import anthropic
import pytest

from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer
from tests.simulator.conftest import API_KEY, Live

MODEL = "claude-sonnet-5"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
HELLO: list[Any] = [{"role": "user", "content": "Hello simulator, please greet me"}]


async def test_create_answers_with_a_message_and_a_request_id(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(model=MODEL, max_tokens=256, messages=HELLO)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-5"
    assert message.content[0].type == "text"
    assert "Hello simulator, please greet me" in message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert (message._request_id or "").startswith("req_")


async def test_streaming_with_tools_reaches_the_same_final_message(client: anthropic.AsyncAnthropic) -> None:
    prompt: list[Any] = [{"role": "user", "content": "What does get_weather say for Lisbon?"}]
    whole = await client.messages.create(model=MODEL, max_tokens=512, messages=prompt, tools=[WEATHER])
    texts: list[str] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=512, messages=prompt, tools=[WEATHER]
    ) as stream:
        async for text in stream.text_stream:
            texts.append(text)
        final = await stream.get_final_message()
    assert final.to_dict() == whole.to_dict()
    assert final.stop_reason == "tool_use"
    call = final.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert isinstance(call.input, dict) and isinstance(call.input["city"], str)
    preamble = final.content[0]
    assert preamble.type == "text" and "".join(texts) == preamble.text
    assert len(texts) >= 2, "text arrives as several deltas"


@pytest.mark.parametrize(
    "extra",
    [
        {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
        {"tools": [WEATHER], "max_tokens": 12},
        {"stop_sequences": ["say"], "max_tokens": 512},
    ],
    ids=["thinking", "max-tokens-inside-tool-json", "stop-sequence"],
)
async def test_the_sdk_accumulates_every_stream_to_the_json_reply(
    client: anthropic.AsyncAnthropic, extra: dict[str, Any]
) -> None:
    request: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What does get_weather say?"}],
    }
    request.update(extra)
    whole = await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        final = await stream.get_final_message()
    assert final.to_dict() == whole.to_dict()
    if "thinking" in extra:
        assert final.content[0].type == "thinking" and final.content[0].signature
    elif "tools" in extra:
        assert final.stop_reason == "max_tokens" and final.content[-1].type == "tool_use"
        assert final.usage.output_tokens == 12
    else:
        assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "say")


async def test_count_tokens_matches_the_usage_of_the_same_request(client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(
        model=MODEL, messages=HELLO, tools=[WEATHER], system="Be kind."
    )
    message = await client.messages.create(
        model=MODEL, max_tokens=64, messages=HELLO, tools=[WEATHER], system="Be kind."
    )
    assert counted.input_tokens == message.usage.input_tokens


async def test_models_list_pages_through_the_whole_catalogue(
    client: anthropic.AsyncAnthropic, server: Live
) -> None:
    ids = [model.id async for model in client.models.list(limit=2)]
    assert ids == [spec.id for spec in server.app.config.models]
    pages = [entry for entry in server.app.simulator.log.entries() if entry["path"] == "/v1/models"]
    assert len(pages) == (len(ids) + 1) // 2
    first = await client.models.list(limit=3)
    assert first.has_more and first.first_id == ids[0] and first.last_id == ids[2]
    backwards = await client.models.list(before_id=ids[4], limit=2)
    assert [model.id for model in backwards.data] == ids[2:4]


async def test_models_are_retrieved_by_id_or_alias(client: anthropic.AsyncAnthropic) -> None:
    model = await client.models.retrieve("claude-haiku-4-5")
    assert (model.id, model.display_name, model.type) == (
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        "model",
    )
    assert model.created_at.year == 2025
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.models.retrieve("claude-unknown")
    assert caught.value.status_code == 404


async def test_invalid_requests_fail_with_the_api_envelope(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=0, messages=HELLO)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": body["error"]["message"]}
    assert body["error"]["message"].startswith("max_tokens:")
    assert body["request_id"] == caught.value.request_id == caught.value.response.headers["request-id"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.NotFoundError, match="model: claude-imaginary"):
        await client.messages.create(model="claude-imaginary", max_tokens=10, messages=HELLO)


async def test_configured_keys_are_enforced_for_both_header_styles() -> None:
    with LiveServer(create_app(SimulatorConfig(api_keys=(API_KEY,)))) as server:
        async with anthropic.AsyncAnthropic(
            base_url=server.base_url, api_key="wrong", max_retries=0
        ) as wrong:
            with pytest.raises(anthropic.AuthenticationError) as caught:
                await wrong.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
            assert caught.value.body == {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                "request_id": caught.value.request_id,
            }
        async with anthropic.AsyncAnthropic(
            base_url=server.base_url, api_key=API_KEY, max_retries=0
        ) as right:
            assert (await right.messages.create(model=MODEL, max_tokens=10, messages=HELLO)).type == "message"
        body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
        async with aiohttp.ClientSession(server.base_url) as http:
            async with http.post(
                "/v1/messages", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
            ) as ok:
                assert ok.status == 200
            async with http.post("/v1/messages", json=body) as missing:
                assert missing.status == 401
                assert (await missing.json())["error"]["message"] == "x-api-key header is required"


async def test_any_key_and_version_are_accepted_by_default(server: Live) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
    headers = {"anthropic-version": "2031-01-01", "anthropic-beta": "anything-2030"}
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post("/v1/messages?beta=true", json=body, headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["type"] == "message"
        async with http.head("/") as probe:
            assert probe.status == 200
        async with http.get("/v1/nothing-here") as missing:
            assert missing.status == 404
            assert (await missing.json())["error"]["type"] == "not_found_error"


async def test_serve_runs_the_simulator_under_uvicorn() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from claudegate.simulator import serve; serve('127.0.0.1', {port})"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    async with http.head("/") as probe_response:
                        assert probe_response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("serve() never started listening")
            body = {"model": MODEL, "max_tokens": 16, "messages": HELLO}
            async with http.post("/v1/messages", json=body) as response:
                assert response.status == 200 and (await response.json())["type"] == "message"
    finally:
        process.terminate()
        await process.wait()


async def test_n8ns_credential_probe_with_an_older_model_is_answered(server: Live) -> None:
    # The request n8n's Anthropic credential test sends, by raw HTTP as n8n does.
    probe = {
        "model": "claude-3-haiku-20240307",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "Hey"}],
    }
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession(server.base_url, headers=headers) as http:
        async with http.post("/v1/messages", json=probe) as response:
            assert response.status == 200
            message = await response.json()
        async with http.get("/v1/models/claude-3-haiku-20240307") as response:
            model = await response.json()
        async with http.post("/v1/messages", json={**probe, "max_tokens": 4097}) as response:
            too_long = response.status, await response.json()
    assert (message["model"], message["stop_reason"], message["usage"]["output_tokens"]) == (
        "claude-3-haiku-20240307",
        "max_tokens",
        1,
    )
    assert (model["display_name"], model["created_at"]) == ("Claude Haiku 3", "2024-03-07T00:00:00Z")
    assert too_long[0] == 400 and too_long[1]["error"]["message"].startswith("max_tokens: 4097 > 4096")


def test_the_default_catalogue_is_newest_first() -> None:
    released = [spec.created_at for spec in SimulatorConfig().models]
    assert released == sorted(released, reverse=True)

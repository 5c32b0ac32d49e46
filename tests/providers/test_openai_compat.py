"""``OpenAICompatProvider`` over real sockets: the simulator's chat endpoint and scripted upstreams."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.client import AiohttpTransport, ApiKey
from claudegate.errors import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    OverloadedError,
    RateLimitError,
    StreamProtocolError,
    UserError,
)
from claudegate.providers import OpenAICompatProvider, ProviderRequest
from claudegate.simulator import SimulatorApp, create_app
from claudegate.sse import validate_anthropic_events, validate_anthropic_sse
from claudegate.testing import LiveServer
from tests.providers._samples import (
    ASK,
    PNG,
    STOP_BY_FINISH,
    STREAM,
    TIME,
    WEATHER,
    both,
    collect,
    expected_from,
    text_of,
)
from tests.providers._upstream import (
    KEY,
    Script,
    Scripted,
    ScriptedUpstream,
    Sim,
    chunk,
    completion,
    pieces,
    sse,
    tool_call,
    usage_chunk,
    with_usage,
)

OPENAI_FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "openai").glob("*.sse"))


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.aclose()


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[SimulatorApp, str]]:
    app = create_app()
    with LiveServer(app) as server:
        yield app, server.base_url


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[ScriptedUpstream, str]]:
    app = ScriptedUpstream()
    with LiveServer(app) as server:
        yield app, server.base_url


@pytest.fixture
def sim(sim_server: tuple[SimulatorApp, str], transport: AiohttpTransport) -> Sim:
    return Sim(*sim_server, transport)


@pytest.fixture
def scripted(scripted_server: tuple[ScriptedUpstream, str], transport: AiohttpTransport) -> Scripted:
    return Scripted(*scripted_server, transport)


# -- against the simulator ---------------------------------------------------------------------


async def test_text_answer_json_and_stream(sim: Sim) -> None:
    provider = sim.provider()
    response = await provider.create(ProviderRequest(body=ASK))
    message, events = await both(provider, ASK)
    assert response.headers["request-id"].startswith("req_")
    assert "harbour lights at dusk" in text_of(message) and message["stop_reason"] == "end_turn"
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    assert message["usage"]["input_tokens"] == sim.app.simulator.count_tokens(ASK)
    assert message["usage"]["output_tokens"] > 0
    assert any(event["type"] == "content_block_delta" for event in events)


async def test_one_forced_tool(sim: Sim) -> None:
    body = {**ASK, "tools": [WEATHER, TIME], "tool_choice": {"type": "tool", "name": "get_weather"}}
    message, _ = await both(sim.provider(), body)
    calls = [block for block in message["content"] if block["type"] == "tool_use"]
    assert [call["name"] for call in calls] == ["get_weather"] and message["stop_reason"] == "tool_use"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", calls[0]["id"])
    assert len(calls[0]["input"]["city"]) >= 2 and calls[0]["input"]["unit"] in ("celsius", "fahrenheit")


async def test_parallel_tools(sim: Sim) -> None:
    body = {
        **ASK,
        "messages": [{"role": "user", "content": "Use get_weather and get_time for Oslo"}],
        "tools": [WEATHER, TIME],
        "tool_choice": {"type": "any"},
    }
    message, events = await both(sim.provider(), body)
    calls = [block for block in message["content"] if block["type"] == "tool_use"]
    assert [call["name"] for call in calls] == ["get_weather", "get_time"]
    assert len({call["id"] for call in calls}) == 2 and message["stop_reason"] == "tool_use"
    starts = [event["index"] for event in events if event["type"] == "content_block_start"]
    assert starts == list(range(len(message["content"])))
    for call in calls:
        index = message["content"].index(call)
        fragments = [
            event["delta"]["partial_json"]
            for event in events
            if event["type"] == "content_block_delta" and event["index"] == index
        ]
        assert orjson.loads("".join(fragments)) == call["input"]


async def test_image_reaches_the_upstream(sim: Sim) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    question = "What is in this picture"
    body = {**ASK, "messages": [{"role": "user", "content": [image, {"type": "text", "text": question}]}]}
    provider = sim.provider()
    with_image, _ = await both(provider, body)
    plain = (
        await provider.create(
            ProviderRequest(body={**ASK, "messages": [{"role": "user", "content": question}]})
        )
    ).message
    assert "[image]" in text_of(with_image) and "[image]" not in text_of(plain)
    assert with_image["usage"]["input_tokens"] > plain["usage"]["input_tokens"]


async def test_system_prompt_is_sent(sim: Sim) -> None:
    system = [{"type": "text", "text": "You are a poet of the sea", "cache_control": {"type": "ephemeral"}}]
    body = {**ASK, "system": system}
    message, _ = await both(sim.provider(), body)
    counted = sim.app.simulator.count_tokens
    assert message["usage"]["input_tokens"] == counted(body) > counted(ASK)


async def test_stop_sequence_cuts_the_answer(sim: Sim) -> None:
    provider = sim.provider()
    full = text_of((await provider.create(ProviderRequest(body=ASK))).message)
    cut, _ = await both(provider, {**ASK, "stop_sequences": ["harbour"]})
    assert text_of(cut) == full[: full.index("harbour")] and cut["stop_reason"] == "end_turn"


async def test_max_tokens_cuts_the_answer(sim: Sim) -> None:
    message, _ = await both(sim.provider(), {**ASK, "max_tokens": 5})
    assert message["stop_reason"] == "max_tokens" and message["usage"]["output_tokens"] == 5


async def test_raw_chunks_are_anthropic_sse(sim: Sim) -> None:
    stream = await sim.provider().stream(ProviderRequest(body=STREAM))
    assert not stream.native
    raw = b"".join([chunk async for chunk in stream.raw_chunks()])
    assert "harbour" in text_of(validate_anthropic_sse(raw))


async def test_a_stream_read_at_once_comes_as_few_batches(sim: Sim) -> None:
    """The simulator writes its whole stream at once: the events come grouped per read, so a
    surface answers with a write per read, not one per event."""
    stream = await sim.provider().stream(ProviderRequest(body=STREAM))
    batches = [batch async for batch in stream.batches()]
    events = [event for batch in batches for event in batch]
    assert len(events) > 10 and len(batches) < len(events) / 3
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    validate_anthropic_events(events)


async def test_aclose_releases_the_upstream_at_once(sim: Sim) -> None:
    provider = sim.provider(**{"x-sim-latency": "event=50ms"})
    stream = await provider.stream(ProviderRequest(body={**STREAM, "max_tokens": 400}))
    events = stream.events()
    assert (await anext(events))["type"] == "message_start"
    await stream.aclose()
    assert [event async for event in events] == []
    deadline = time.monotonic() + 3
    while not sim.app.simulator.log.entries()[-1]["disconnected"]:
        assert time.monotonic() < deadline, "the upstream never saw the client leave"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("fault", "error_class", "error_type", "headers"),
    [
        (
            "429;retry-after=7",
            RateLimitError,
            "rate_limit_error",
            {"retry-after": "7", "x-should-retry": "true"},
        ),
        ("429;retry-after-ms=1500", RateLimitError, "rate_limit_error", {"retry-after-ms": "1500"}),
        ("500", InternalServerError, "api_error", {"x-should-retry": "true"}),
        ("500;should-retry=false", InternalServerError, "api_error", {"x-should-retry": "false"}),
        ("400", BadRequestError, "invalid_request_error", {"x-should-retry": "false"}),
        ("529", OverloadedError, "overloaded_error", {"x-should-retry": "true"}),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_statuses(
    sim: Sim,
    fault: str,
    error_class: type[APIStatusError],
    error_type: str,
    headers: dict[str, str],
    streaming: bool,
) -> None:
    provider = sim.provider(**{"x-sim-fault": fault})
    request = ProviderRequest(body={**ASK, "stream": streaming})
    with pytest.raises(error_class) as caught:
        await (provider.stream(request) if streaming else provider.create(request))
    error = caught.value
    assert error.status_code == int(fault[:3]) and error.type == error_type
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert {name: error.headers.get(name) for name in headers} == headers
    assert isinstance(error.body, dict) and error.body["type"] == "error" and error.body["error"]["message"]


@pytest.mark.parametrize("streaming", [False, True])
async def test_reset_before_headers(sim: Sim, streaming: bool) -> None:
    provider = sim.provider(**{"x-sim-fault": "reset-before"})
    request = ProviderRequest(body={**ASK, "stream": streaming})
    with pytest.raises(APIConnectionError):
        await (provider.stream(request) if streaming else provider.create(request))


async def test_reset_mid_json(sim: Sim) -> None:
    with pytest.raises(APIConnectionError):
        await sim.provider(**{"x-sim-fault": "reset-mid:1"}).create(ProviderRequest(body=ASK))


async def test_reset_mid_stream_raises_from_the_iterator(sim: Sim) -> None:
    stream = await sim.provider(**{"x-sim-fault": "reset-mid:4"}).stream(ProviderRequest(body=STREAM))
    seen: list[dict[str, Any]] = []
    with pytest.raises(APIConnectionError):
        async for event in stream.events():
            seen.append(event)
    assert seen[0]["type"] == "message_start"
    assert all(event["type"] != "message_stop" for event in seen)


async def test_error_mid_stream_is_an_error_event(sim: Sim) -> None:
    provider = sim.provider(**{"x-sim-fault": "error-mid:3;type=rate_limit_error"})
    stream = await provider.stream(ProviderRequest(body=STREAM))
    events = await collect(stream)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "error"
    assert all(event["type"] not in ("message_delta", "message_stop") for event in events)
    assert events[-1]["error"]["type"] == "rate_limit_error" and events[-1]["error"]["message"]
    assert events[-1]["request_id"] == stream.headers["request-id"]


# -- recorded OpenAI streams, replayed, and scripted upstreams ---------------------------------


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=[path.name for path in OPENAI_FIXTURES])
async def test_recorded_stream_becomes_a_valid_anthropic_stream(scripted: Scripted, path: Path) -> None:
    raw = path.read_bytes()
    expected = expected_from(raw)
    provider, _ = scripted.provider(Script(pieces(raw, 97)))
    events = await collect(await provider.stream(ProviderRequest(body=STREAM)))
    message = validate_anthropic_events(events)
    starts = [event["index"] for event in events if event["type"] == "content_block_start"]
    assert starts == list(range(len(message["content"])))
    assert message["id"] == "msg_" + expected["id"].removeprefix("chatcmpl-")
    assert text_of(message) == expected["text"]
    calls = [(b["id"], b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]
    assert calls == [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in expected["calls"]]
    assert message["stop_reason"] == ("tool_use" if calls else STOP_BY_FINISH[expected["finish"]])
    assert message["usage"]["input_tokens"] == expected["usage"]["prompt_tokens"]
    assert message["usage"]["output_tokens"] == expected["usage"]["completion_tokens"]


async def test_events_arrive_as_the_bytes_do(scripted: Scripted) -> None:
    gate = threading.Event()
    first = sse(chunk({"role": "assistant", "content": "Hello"}), done=False)
    rest = sse(chunk({"content": " world"}), chunk(finish_reason="stop"), usage_chunk(3, 2))
    provider, _ = scripted.provider(Script([first, rest], gate=gate))
    events = (await provider.stream(ProviderRequest(body=STREAM))).events()
    early = [await asyncio.wait_for(anext(events), 2) for _ in range(3)]
    assert [event["type"] for event in early] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]
    gate.set()
    message = validate_anthropic_events([*early, *[event async for event in events]])
    assert text_of(message) == "Hello world" and message["usage"]["output_tokens"] == 2


async def test_the_request_on_the_wire(scripted: Scripted) -> None:
    script = Script([sse(chunk({"content": "ok"}), chunk(finish_reason="stop"), usage_chunk(1, 1))])
    provider, seen = scripted.provider(script, default_headers={"X-Team": "blue"})
    body = {**STREAM, "system": "Be brief", "stop_sequences": ["END"], "tools": [WEATHER]}
    await collect(await provider.stream(ProviderRequest(body={**body, "tool_choice": {"type": "any"}})))
    request = seen[0]
    assert request.path.endswith("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}" and request.headers["x-team"] == "blue"
    assert request.headers["accept"] == "text/event-stream" and "x-api-key" not in request.headers
    assert request.body["stream"] is True and request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief"}
    assert request.body["max_completion_tokens"] == 200 and request.body["stop"] == ["END"]
    assert request.body["tool_choice"] == "required"
    assert request.body["tools"][0]["function"]["name"] == "get_weather"


async def test_forwarded_headers_reach_the_upstream(sim: Sim, scripted: Scripted) -> None:
    forwarded = {"anthropic-version": "2023-06-01", "x-sim-fault": "500", "authorization": "Bearer client"}
    with pytest.raises(InternalServerError):
        await sim.provider().create(ProviderRequest(body=ASK, headers=forwarded))
    script = Script([sse(chunk({"content": "ok"}), chunk(finish_reason="stop"))])
    for api_key in (KEY, None):
        provider, seen = scripted.provider(script, api_key=api_key)
        await collect(await provider.stream(ProviderRequest(body=STREAM, headers=forwarded)))
        assert seen[0].headers["x-sim-fault"] == "500" and "anthropic-version" not in seen[0].headers
        assert seen[0].headers.get("authorization") == (f"Bearer {api_key}" if api_key else None)


async def test_json_request_without_key(scripted: Scripted) -> None:
    reply = completion({"role": "assistant", "content": "Hi"}, "stop", model="local-model")
    reply["usage"] = {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
    script = Script([orjson.dumps(reply)], content_type=b"application/json")
    provider, seen = scripted.provider(script, api_key=None)
    message = (await provider.create(ProviderRequest(body=STREAM))).message
    assert "authorization" not in seen[0].headers and "stream" not in seen[0].body
    assert text_of(message) == "Hi" and message["model"] == "local-model"
    assert message["usage"]["input_tokens"] == 4 and message["id"] == "msg_script1"


async def test_openai_error_envelope_keeps_its_headers(scripted: Scripted) -> None:
    envelope = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    headers = [(b"Retry-After", b"20"), (b"x-request-id", b"req-upstream-1")]
    script = Script([orjson.dumps(envelope)], status=429, content_type=b"application/json", headers=headers)
    provider, _ = scripted.provider(script)
    with pytest.raises(RateLimitError) as caught:
        await provider.create(ProviderRequest(body=ASK))
    assert caught.value.headers["retry-after"] == "20" and caught.value.request_id == "req-upstream-1"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limit reached"},
        "request_id": "req-upstream-1",
    }


async def test_html_error_page(scripted: Scripted) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    provider, _ = scripted.provider(Script([page], status=502, content_type=b"text/html"))
    with pytest.raises(InternalServerError, match="502 Bad Gateway") as caught:
        await provider.stream(ProviderRequest(body=STREAM))
    assert caught.value.status_code == 502


BROKEN_STREAMS = {
    "no [DONE], no usage": (
        sse(chunk({"content": "Hi"}), chunk(finish_reason="stop"), done=False),
        APIConnectionError,
    ),
    "no finish_reason": (sse(chunk({"content": "Hi"}), usage_chunk(1, 1)), APIConnectionError),
    "no chunk at all": (sse(), APIConnectionError),
    "cut before the usage chunk": (
        sse(with_usage(chunk({"content": "Hi"})), with_usage(chunk(finish_reason="stop")), done=False),
        APIConnectionError,
    ),
    "bad tool arguments": (sse(tool_call("{oops"), chunk(finish_reason="tool_calls")), StreamProtocolError),
    "empty tool arguments": (sse(tool_call(""), chunk(finish_reason="tool_calls")), StreamProtocolError),
    "chunk is not JSON": (b"data: {not json\n\n", StreamProtocolError),
}


@pytest.mark.parametrize("case", sorted(BROKEN_STREAMS))
async def test_broken_upstream_streams(scripted: Scripted, case: str) -> None:
    raw, error_class = BROKEN_STREAMS[case]
    provider, _ = scripted.provider(Script([raw]))
    stream = await provider.stream(ProviderRequest(body=STREAM))
    seen: list[dict[str, Any]] = []
    with pytest.raises(error_class) as caught:
        async for event in stream.events():
            seen.append(event)
    assert not isinstance(caught.value, UserError)
    assert all(event["type"] != "message_stop" for event in seen)


TOLERATED_STREAMS = {
    "usage chunk, no [DONE]": sse(
        chunk({"content": "Hi"}), chunk(finish_reason="length"), usage_chunk(2, 1), done=False
    ),
    "[DONE] without its blank line": sse(chunk({"content": "Hi"}), chunk(finish_reason="length"))[:-2],
    "keepalive comments and empty data": b": keepalive\n\ndata:\n\n"
    + sse(chunk({"content": "Hi"}), chunk(finish_reason="length")),
}


@pytest.mark.parametrize("case", sorted(TOLERATED_STREAMS))
async def test_tolerated_stream_endings(scripted: Scripted, case: str) -> None:
    provider, _ = scripted.provider(Script([TOLERATED_STREAMS[case]]))
    events = await collect(await provider.stream(ProviderRequest(body=STREAM)))
    message = validate_anthropic_events(events)
    assert text_of(message) == "Hi" and message["stop_reason"] == "max_tokens"


BAD_CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1"}}
UNTRANSLATABLE = {
    "not json": b"<html>not json</html>",
    "not an object": b"[]",
    "no choices": orjson.dumps({**completion({}, "stop"), "choices": []}),
    "bad tool arguments": orjson.dumps(
        completion({"role": "assistant", "tool_calls": [BAD_CALL]}, "tool_calls")
    ),
}


@pytest.mark.parametrize("case", sorted(UNTRANSLATABLE))
async def test_untranslatable_json_answer(scripted: Scripted, case: str) -> None:
    provider, _ = scripted.provider(Script([UNTRANSLATABLE[case]], content_type=b"application/json"))
    with pytest.raises(StreamProtocolError):
        await provider.create(ProviderRequest(body=ASK))


# -- construction -------------------------------------------------------------------------------


async def test_the_key_is_never_shown(scripted: Scripted) -> None:
    envelope = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    script = Script([orjson.dumps(envelope)], status=401, content_type=b"application/json")
    provider, seen = scripted.provider(script, api_key=ApiKey(KEY))
    assert KEY not in repr(provider)
    with pytest.raises(APIStatusError) as caught:
        await provider.create(ProviderRequest(body=ASK))
    assert caught.value.status_code == 401 and seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.headers)


async def test_identity_and_count_tokens(transport: AiohttpTransport) -> None:
    provider = OpenAICompatProvider(base_url="http://127.0.0.1:9/v1", api_key=None, transport=transport)
    assert provider.kind == "openai"
    assert await provider.count_tokens(ProviderRequest(body=ASK)) is None
    with pytest.raises(UserError) as caught:
        OpenAICompatProvider(base_url="127.0.0.1:9/v1", api_key=None, transport=transport)
    assert caught.value.field == "base_url"


# -- pass-through (``ProviderRequest.chat``: an OpenAI client's own request) ----------------------


async def test_a_chat_request_goes_out_as_it_is_and_its_answer_comes_back_untranslated(
    scripted: Scripted,
) -> None:
    raw = orjson.dumps(completion({"role": "assistant", "content": "Hi"}, "stop")) + b"  "
    provider, seen = scripted.provider(Script([raw], content_type=b"application/json"))
    chat = b'{"model": "gpt-script", "messages": [{"role": "user", "content": "hi"}], "n": 3}'
    response = await provider.create(ProviderRequest(body=ASK, chat=chat))
    assert (response.dialect, response.raw) == ("openai", raw)
    assert seen[0].body == orjson.loads(chat)
    assert text_of(response.message) == "Hi"  # its canonical view, on demand


async def test_a_chat_stream_gives_the_upstreams_own_bytes(scripted: Scripted) -> None:
    raw = OPENAI_FIXTURES[0].read_bytes()
    provider, _ = scripted.provider(Script(pieces(raw, 41)))
    stream = await provider.stream(ProviderRequest(body=STREAM, chat=b'{"model": "m", "stream": true}'))
    try:
        assert stream.dialect == "openai"
        assert b"".join([piece async for piece in stream.raw_chunks()]) == raw
    finally:
        await stream.aclose()


async def test_a_chat_stream_answered_with_json_fails_before_the_first_byte(scripted: Scripted) -> None:
    provider, _ = scripted.provider(Script([b'{"id": "x"}'], content_type=b"application/json"))
    with pytest.raises(StreamProtocolError, match="content-type 'application/json'"):
        await provider.stream(ProviderRequest(body=STREAM, chat=b'{"model": "m", "stream": true}'))


async def test_a_chat_requests_error_keeps_the_upstreams_own_error_object(scripted: Scripted) -> None:
    error = {
        "message": "too long",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    script = Script([orjson.dumps({"error": error})], status=400, content_type=b"application/json")
    provider, _ = scripted.provider(script)
    with pytest.raises(BadRequestError) as caught:
        await provider.create(ProviderRequest(body=ASK, chat=b'{"model": "m"}'))
    assert isinstance(caught.value.body, dict) and caught.value.body["openai_error"] == error
    assert caught.value.body["error"] == {"type": "invalid_request_error", "message": "too long"}

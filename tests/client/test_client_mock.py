"""The client's request path against the shipped MockTransport (no sockets)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.client import (
    AsyncClient,
    CallbackObserver,
    Client,
    MockResponse,
    MockTransport,
    Request,
    RetryPolicy,
)
from claudegate.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    OverloadedError,
    RateLimitError,
    StreamProtocolError,
)
from claudegate.types import TextBlock, ToolUseBlock

KEY = "sk-ant-test-key-0000000001"
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 2},
}
ARGS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


def error(status: int, kind: str, headers: dict[str, str] | None = None) -> MockResponse:
    body = {"type": "error", "error": {"type": kind, "message": f"{kind} happened"}, "request_id": "req_body"}
    return MockResponse.json(body, status, {"request-id": "req_123", **(headers or {})})


def sse_events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line[5:]) for line in path.read_bytes().splitlines() if line.startswith(b"data:")]


def make(handler: Any, **options: Any) -> tuple[AsyncClient, MockTransport]:
    transport = MockTransport(handler)
    return AsyncClient(
        api_key=KEY, base_url="https://api.example.test", transport=transport, **options
    ), transport


async def test_create_sends_the_documented_headers_and_body() -> None:
    client, transport = make(lambda r: MockResponse.json(MESSAGE), betas=["beta-a"])
    message = await client.messages.create(**ARGS, betas=["beta-b"], extra_headers={"X-Trace": "t1"})
    assert isinstance(message.content[0], TextBlock) and message.content[0].text == "Hello!"
    request = transport.requests[0]
    assert request.method == "POST" and request.url == "https://api.example.test/v1/messages"
    assert request.headers["x-api-key"] == KEY and "authorization" not in request.headers
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["anthropic-beta"] == "beta-a,beta-b"
    assert request.headers["x-trace"] == "t1"
    assert orjson.loads(request.content or b"") == ARGS


async def test_bearer_auth_and_models_as_input() -> None:
    client, transport = make(lambda r: MockResponse.json(MESSAGE), auth="bearer")
    await client.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": [TextBlock(text="typed block")]}]
    )
    request = transport.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}" and "x-api-key" not in request.headers
    body = orjson.loads(request.content or b"")
    assert body["messages"][0]["content"] == [{"type": "text", "text": "typed block"}]


@pytest.mark.parametrize(
    ("status", "kind", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", InternalServerError),
        (529, "overloaded_error", OverloadedError),
    ],
)
async def test_errors_map_to_the_tree_with_request_id(
    status: int, kind: str, cls: type[APIStatusError]
) -> None:
    client, _ = make(lambda r: error(status, kind))
    with pytest.raises(cls) as info:
        await client.messages.create(**ARGS)
    exc = info.value
    assert exc.status_code == status
    assert exc.type == kind
    assert exc.request_id == "req_123"
    assert exc.attempts == 1
    assert KEY not in str(exc)


async def test_retry_then_success_counts_attempts_and_honours_retry_after() -> None:
    answers = [error(529, "overloaded_error"), error(429, "rate_limit_error", {"retry-after": "0.2"})]

    def handler(request: Request) -> MockResponse:
        return answers.pop(0) if answers else MockResponse.json(MESSAGE)

    client, transport = make(handler, retry=RetryPolicy(initial_delay=0.01, random=lambda: 0.0))
    started = time.monotonic()
    message = await client.messages.create(**ARGS)
    elapsed = time.monotonic() - started
    assert message.id == "msg_1" and len(transport.requests) == 3
    assert 0.2 <= elapsed < 1.0


async def test_retries_exhausted_and_non_retryable_statuses() -> None:
    client, transport = make(
        lambda r: error(500, "api_error"), retry=RetryPolicy(max_retries=3, initial_delay=0.0)
    )
    with pytest.raises(InternalServerError) as info:
        await client.messages.create(**ARGS)
    assert info.value.attempts == 4 and len(transport.requests) == 4
    client, transport = make(
        lambda r: error(400, "invalid_request_error"), retry=RetryPolicy(initial_delay=0.0)
    )
    with pytest.raises(BadRequestError):
        await client.messages.create(**ARGS)
    assert len(transport.requests) == 1
    # x-should-retry: false stops retries of a retryable status
    client, transport = make(
        lambda r: error(529, "overloaded_error", {"x-should-retry": "false"}),
        retry=RetryPolicy(initial_delay=0.0),
    )
    with pytest.raises(OverloadedError):
        await client.messages.create(**ARGS)
    assert len(transport.requests) == 1


async def test_per_call_retry_overrides_the_client() -> None:
    client, transport = make(lambda r: error(503, "api_error"), retry=RetryPolicy(initial_delay=0.0))
    with pytest.raises(InternalServerError):
        await client.messages.create(**ARGS, retry=RetryPolicy.none())
    assert len(transport.requests) == 1


async def test_connection_errors_are_retried() -> None:
    calls = 0

    def handler(request: Request) -> MockResponse:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise APIConnectionError("refused")
        return MockResponse.json(MESSAGE)

    client, _ = make(handler, retry=RetryPolicy(initial_delay=0.0))
    assert (await client.messages.create(**ARGS)).id == "msg_1"
    assert calls == 3


async def test_stream_accumulates_the_fixture_and_calls_observers(fixtures_dir: Path) -> None:
    events = sse_events(fixtures_dir / "anthropic" / "tool_use_response.txt")
    client, transport = make(lambda r: MockResponse.sse(events))
    texts: list[str] = []
    tools: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    observer = CallbackObserver(on_text=texts.append, on_tool_use=tools.append, on_message=finals.append)
    async with client.messages.stream(**ARGS, observers=[observer]) as stream:
        kinds = [event.type async for event in stream]
        message = await stream.get_final_message()
    assert transport.requests[0].headers["accept"] == "text/event-stream"
    assert orjson.loads(transport.requests[0].content or b"")["stream"] is True
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "".join(texts) == "I'll check the current weather in Paris for you."
    block = message.content[1]
    assert isinstance(block, ToolUseBlock) and block.name == "get_weather"
    assert block.input == tools[0]["input"] and "location" in block.input
    assert message.stop_reason == "tool_use" and finals[0]["id"] == message.id


async def test_text_stream_and_final_text(fixtures_dir: Path) -> None:
    events = sse_events(fixtures_dir / "anthropic" / "basic_response.txt")
    client, _ = make(lambda r: MockResponse.sse(events))
    async with client.messages.stream(**ARGS) as stream:
        pieces = [text async for text in stream.text_stream]
        assert await stream.get_final_text() == "Hello there!"
    assert pieces == ["Hello", " there", "!"]


async def test_stream_cut_short_is_a_connection_error() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    client, _ = make(lambda r: MockResponse.sse(events))
    with pytest.raises(APIConnectionError, match="before message_stop"):
        async with client.messages.stream(**ARGS) as stream:
            await stream.until_done()


async def test_in_stream_error_event_raises_the_matching_error() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    errors: list[BaseException] = []
    client, _ = make(lambda r: MockResponse.sse(events))
    with pytest.raises(OverloadedError) as info:
        async with client.messages.stream(
            **ARGS, observers=[CallbackObserver(on_error=errors.append)]
        ) as stream:
            await stream.until_done()
    assert info.value.status_code == 529
    assert errors == [info.value]


async def test_impossible_event_order_is_rejected() -> None:
    events = [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}]
    client, _ = make(lambda r: MockResponse.sse(events))
    with pytest.raises(StreamProtocolError):
        async with client.messages.stream(**ARGS) as stream:
            await stream.until_done()


def test_sync_client_forwards_to_the_async_one(fixtures_dir: Path) -> None:
    events = sse_events(fixtures_dir / "anthropic" / "basic_response.txt")

    def handler(request: Request) -> MockResponse:
        return (
            MockResponse.sse(events)
            if b'"stream":true' in (request.content or b"")
            else MockResponse.json(MESSAGE)
        )

    with Client(api_key=KEY, base_url="https://api.example.test", transport=MockTransport(handler)) as client:
        assert client.messages.create(**ARGS).id == "msg_1"
        with client.messages.stream(**ARGS) as stream:
            assert list(stream.text_stream) == ["Hello", " there", "!"]
            assert stream.get_final_message().stop_reason == "end_turn"
        assert KEY not in repr(client)


def test_to_curl_for_a_call() -> None:
    client, _ = make(lambda r: MockResponse.json(MESSAGE))
    command = client.messages.to_curl(**ARGS)
    assert command.startswith("curl -sS -X POST https://api.example.test/v1/messages")
    assert KEY not in command and "$ANTHROPIC_API_KEY" in command

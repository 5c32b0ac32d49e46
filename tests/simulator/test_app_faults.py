"""Injected faults reach the official SDK as the errors it raises against the live API."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest

from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer
from tests.simulator.conftest import API_KEY, Live

MODEL = "claude-opus-4-8"
HELLO: list[Any] = [{"role": "user", "content": "Hello there, tell me something"}]


def fault(spec: str) -> dict[str, str]:
    return {"x-sim-fault": spec}


@pytest.mark.parametrize(
    ("spec", "error", "retry"),
    [
        ("429", anthropic.RateLimitError, "true"),
        ("529", anthropic.OverloadedError, "true"),
        ("500", anthropic.InternalServerError, "true"),
        ("400", anthropic.BadRequestError, "false"),
    ],
)
async def test_status_faults_raise_the_matching_sdk_error(
    client: anthropic.AsyncAnthropic, spec: str, error: type[anthropic.APIStatusError], retry: str
) -> None:
    with pytest.raises(error) as caught:
        await client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, extra_headers=fault(spec))
    assert caught.value.status_code == int(spec)
    assert caught.value.response.headers["x-should-retry"] == retry
    body = caught.value.body
    assert isinstance(body, dict) and body["request_id"] == caught.value.response.headers["request-id"]


async def test_a_rate_limit_carries_retry_and_limit_headers(server: Live) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post("/v1/messages", json=body, headers=fault("429;retry-after=7")) as response:
            assert response.status == 429
            envelope = await response.json()
            headers = response.headers
    assert envelope["error"]["type"] == "rate_limit_error"
    assert headers["retry-after"] == "7"
    for name in ("requests", "tokens", "input-tokens", "output-tokens"):
        for part in ("limit", "remaining"):
            assert int(headers[f"anthropic-ratelimit-{name}-{part}"]) >= 0
        reset = datetime.fromisoformat(headers[f"anthropic-ratelimit-{name}-reset"].replace("Z", "+00:00"))
        assert 0 < (reset - datetime.now(UTC)).total_seconds() <= 8


async def test_times_lets_a_retrying_client_succeed(server: Live) -> None:
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=API_KEY, max_retries=2) as retrying:
        message = await retrying.messages.create(
            model=MODEL, max_tokens=32, messages=HELLO, extra_headers=fault("429;retry-after-ms=50;times=2")
        )
    assert message.type == "message"
    attempts = [entry for entry in server.app.simulator.log.entries() if entry["path"] == "/v1/messages"]
    assert [entry["status"] for entry in attempts] == [429, 429, 200]
    assert [entry["fault"] for entry in attempts] == ["429;retry-after-ms=50;times=2"] * 2 + [None]
    gaps = [later["time"] - earlier["time"] for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= 0.045 for gap in gaps), gaps


async def test_faults_in_a_list_take_turns(client: anthropic.AsyncAnthropic) -> None:
    spec = fault("529;times=1, 500;times=1")
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(model=MODEL, max_tokens=8, messages=HELLO, extra_headers=spec)
    with pytest.raises(anthropic.InternalServerError) as second:
        await client.messages.create(model=MODEL, max_tokens=8, messages=HELLO, extra_headers=spec)
    assert second.value.status_code == 500
    assert (
        await client.messages.create(model=MODEL, max_tokens=8, messages=HELLO, extra_headers=spec)
    ).content


async def test_reset_before_is_a_connection_error(client: anthropic.AsyncAnthropic, server: Live) -> None:
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("reset-before")
        )
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    assert server.app.simulator.log.entries()[-1]["status"] is None


async def test_reset_mid_stream_cuts_the_connection_after_n_events(
    client: anthropic.AsyncAnthropic, server: Live
) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises((httpx2.TransportError, anthropic.APIConnectionError)):
        stream = await client.messages.create(
            model=MODEL, max_tokens=64, messages=HELLO, stream=True, extra_headers=fault("reset-mid:4")
        )
        async for event in stream:
            seen.append(event.to_dict())
    sent = server.app.simulator.events({"model": MODEL, "max_tokens": 64, "messages": HELLO})
    # Exactly four events arrive: the SDK hands on all but the ping among them.
    assert [event["type"] for event in sent[:4]] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
    ]
    assert seen == [event for event in sent[:4] if event["type"] != "ping"]


async def test_reset_mid_json_is_a_connection_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("reset-mid:1")
        )


@pytest.mark.parametrize(
    ("spec", "kind"), [("error-mid:3", "overloaded_error"), ("error-mid:5;type=api_error", "api_error")]
)
async def test_error_mid_stream_raises_the_sdk_stream_error(
    client: anthropic.AsyncAnthropic, spec: str, kind: str
) -> None:
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(
            model=MODEL, max_tokens=64, messages=HELLO, extra_headers=fault(spec)
        ) as s:
            async for event in s:
                received.append(event.type)
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == kind
    assert received[0] == "message_start" and "message_stop" not in received


async def test_error_mid_on_a_json_request_is_an_error_answer(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("error-mid:2")
        )


async def test_stall_makes_the_client_time_out(client: anthropic.AsyncAnthropic, server: Live) -> None:
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("stall"), timeout=0.3
        )
    assert 0.25 <= time.monotonic() - started < 5
    # Once headers have arrived, older SDKs let a read timeout inside the stream through unwrapped;
    # newer ones wrap it as APITimeoutError.
    with pytest.raises((httpx2.ReadTimeout, anthropic.APITimeoutError)):
        async with client.messages.stream(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("stall"), timeout=0.3
        ) as stream:
            await stream.get_final_message()


async def test_a_configured_fault_hits_requests_without_the_header() -> None:
    with LiveServer(create_app(SimulatorConfig(fault="529;times=1"))) as server:
        async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=API_KEY, max_retries=0) as sdk:
            with pytest.raises(anthropic.OverloadedError):
                await sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
            assert (await sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)).type == "message"


async def test_faults_spare_the_reachability_probe() -> None:
    # Claude Code sends HEAD / first: it must not use up a times=1 fault meant for the API.
    with LiveServer(create_app(SimulatorConfig(fault="529;times=1"))) as server:
        async with aiohttp.ClientSession(server.base_url) as http:
            for method in ("HEAD", "GET"):
                async with http.request(method, "/", headers=fault("500")) as response:
                    assert response.status == 200
        async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=API_KEY, max_retries=0) as sdk:
            with pytest.raises(anthropic.OverloadedError):
                await sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
            assert (await sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)).type == "message"


async def test_a_malformed_fault_header_is_a_bad_request(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-sim-fault: unknown fault 'explode'"):
        await client.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers=fault("explode")
        )

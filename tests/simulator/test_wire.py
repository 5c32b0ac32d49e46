"""The bytes on the wire: SSE framing and headers as the live API sends them, real resets, the request log."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest

from claudegate.sse import validate_anthropic_sse
from tests.simulator.conftest import API_KEY, Live

MODEL = "claude-opus-4-8"
BODY: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Stream me some words please"}],
}


async def _post(
    server: Live, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post("/v1/messages", json=body, headers=headers or {}) as response:
            return response.status, response.headers, await response.read()


async def test_a_stream_has_the_live_headers_and_framing(server: Live) -> None:
    status, headers, raw = await _post(server, {**BODY, "stream": True})
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["request-id"].startswith("req_")
    frames = raw.decode().split("\n\n")
    assert frames[-1] == "" and all(frame.startswith("event: ") for frame in frames[:-1])
    names = [frame.split("\n")[0][len("event: ") :] for frame in frames[:-1]]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert 'event: ping\ndata: {"type": "ping"}' in frames
    message = validate_anthropic_sse(raw)
    _, _, whole = await _post(server, BODY)
    assert message == orjson.loads(whole)


async def test_error_answers_carry_the_request_id_in_header_and_body(server: Live) -> None:
    status, headers, raw = await _post(server, {**BODY, "messages": "not a list"})
    envelope = orjson.loads(raw)
    assert status == 400
    assert envelope == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: Input should be a valid list"},
        "request_id": headers["request-id"],
    }
    status, _, raw = await _post(server, {**BODY, "model": "claude-nope"})
    assert status == 404 and orjson.loads(raw)["error"] == {
        "type": "not_found_error",
        "message": "model: claude-nope",
    }


async def _raw_exchange(server: Live, fault: str) -> tuple[bytes, bool]:
    """Send one request by hand; read until the server ends or resets the connection (True if reset)."""
    address = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    body = orjson.dumps({**BODY, "stream": True})
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: {address.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-sim-fault: {fault}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), 5):
            received += chunk
    except ConnectionResetError:
        return received, True
    finally:
        writer.close()
    return received, False


@pytest.mark.parametrize(("spec", "events"), [("reset-before", 0), ("reset-mid:2", 2), ("reset-mid:5", 5)])
async def test_a_reset_is_a_tcp_reset_not_a_clean_close(server: Live, spec: str, events: int) -> None:
    received, reset = await _raw_exchange(server, spec)
    assert reset
    if events == 0:
        assert received == b""
        return
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    sent = [event["type"] for event in server.app.simulator.events(BODY)]
    assert re.findall(rb"(?m)^event: (\w+)$", body) == [name.encode() for name in sent[:events]]


async def test_time_to_first_token_and_event_delay_pace_the_stream(server: Live) -> None:
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    async with aiohttp.ClientSession(server.base_url) as http:
        headers = {"x-sim-latency": "ttft=300ms;event=0.02"}
        async with http.post("/v1/messages", json={**BODY, "stream": True}, headers=headers) as response:
            async for chunk in response.content.iter_any():
                arrivals.append((time.monotonic() - started, chunk))
    first_at = arrivals[0][0]
    content_at = next(at for at, chunk in arrivals if b"content_block_start" in chunk)
    assert content_at - first_at >= 0.28
    assert len(arrivals) > 5, "paced events arrive one by one"
    assert arrivals[-1][0] - content_at >= 0.02 * (len(arrivals) - 3)


async def test_a_client_leaving_a_paced_stream_is_logged(server: Live) -> None:
    async with aiohttp.ClientSession(server.base_url) as http:
        headers = {"x-sim-latency": "event=0.05"}
        async with http.post("/v1/messages", json={**BODY, "stream": True}, headers=headers) as response:
            await response.content.readline()
    for _ in range(100):
        if server.app.simulator.log.entries()[-1]["disconnected"]:
            break
        await asyncio.sleep(0.02)
    assert server.app.simulator.log.entries()[-1]["disconnected"] is True


async def test_the_request_log_is_served_and_cleared_over_http(server: Live) -> None:
    headers = {"x-api-key": API_KEY, "x-sim-fault": "500;times=1"}
    await _post(server, {**BODY, "stream": True}, headers)
    await _post(server, BODY, headers)
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.get("/_sim/log") as response:
            raw = await response.read()
            entries = orjson.loads(raw)["data"]
        assert [(e["method"], e["path"], e["model"], e["stream"]) for e in entries] == [
            ("POST", "/v1/messages", MODEL, True),
            ("POST", "/v1/messages", MODEL, False),
        ]
        assert [(e["fault"], e["status"]) for e in entries] == [("500;times=1", 500), (None, 200)]
        assert entries[0]["time"] <= entries[1]["time"] <= time.time()
        assert API_KEY.encode() not in raw
        async with http.delete("/_sim/log") as response:
            assert response.status == 200
        async with http.get("/_sim/log") as response:
            assert (await response.json())["data"] == []

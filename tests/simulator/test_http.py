"""The ASGI plumbing: body size limit, pacing on a fixed schedule, JSON answers paced like streams."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import aiohttp
import orjson
import pytest

from claudegate.simulator import create_app
from claudegate.simulator._http import MAX_BODY_BYTES
from tests.simulator.conftest import Live

MODEL = "claude-opus-4-8"
LONG = " ".join(["tell me a long story about the sea and the ships and the sailors"] * 4)
BODY: dict[str, Any] = {"model": MODEL, "max_tokens": 400, "messages": [{"role": "user", "content": LONG}]}


def oversized() -> bytes:
    """A valid JSON request one byte over the limit."""
    head = orjson.dumps({**BODY, "metadata": {"padding": ""}})
    padding = b"x" * (MAX_BODY_BYTES + 1 - len(head))
    body = head.replace(b'"padding":""', b'"padding":"' + padding + b'"')
    assert len(body) == MAX_BODY_BYTES + 1
    return body


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_32_mb_is_refused_with_413(server: Live, chunked: bool) -> None:
    body = oversized()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    data: Any = pieces() if chunked else io.BytesIO(body)
    async with aiohttp.ClientSession(server.base_url) as http:
        headers = {"content-type": "application/json"}
        async with http.post("/v1/messages", data=data, headers=headers) as response:
            status, envelope, request_id = (
                response.status,
                await response.json(),
                response.headers["request-id"],
            )
    assert status == 413
    assert envelope == {
        "type": "error",
        "error": {
            "type": "request_too_large",
            "message": "Request exceeds the maximum allowed number of bytes.",
        },
        "request_id": request_id,
    }
    assert server.app.simulator.log.entries()[-1]["status"] == 413


async def test_an_openai_client_gets_the_413_in_its_own_shape(server: Live) -> None:
    async with aiohttp.ClientSession(server.base_url) as http:
        headers = {"content-type": "application/json"}
        async with http.post(
            "/v1/chat/completions", data=io.BytesIO(oversized()), headers=headers
        ) as response:
            status, envelope = response.status, await response.json()
    assert status == 413
    assert envelope["error"]["code"] == "request_too_large" and "maximum" in envelope["error"]["message"]


async def test_control_routes_refuse_an_oversized_body_too(server: Live) -> None:
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.delete("/_sim/log", data=io.BytesIO(oversized())) as response:
            status, envelope = response.status, await response.json()
    assert status == 413 and envelope["error"]["type"] == "request_too_large"


async def test_a_json_answer_waits_as_long_as_its_stream_would(server: Live) -> None:
    count = len(server.app.simulator.events(BODY))
    async with aiohttp.ClientSession(server.base_url) as http:
        started = time.monotonic()
        async with http.post(
            "/v1/messages", json=BODY, headers={"x-sim-latency": "ttft=50ms;event=10ms"}
        ) as reply:
            assert reply.status == 200
            await reply.read()
        elapsed = time.monotonic() - started
    expected = 0.05 + 0.01 * (count - 2)
    assert expected <= elapsed < expected + 0.5


class SlowClient:
    """An ASGI client whose every body write takes ``write_seconds`` (a slow network), counting tasks."""

    def __init__(self, body: dict[str, Any], write_seconds: float) -> None:
        self._request: list[MutableMapping[str, Any]] = [
            {"type": "http.request", "body": orjson.dumps(body), "more_body": False}
        ]
        self._write_seconds = write_seconds
        self._left = asyncio.Event()
        self.frames: list[tuple[float, bytes]] = []
        self.tasks_started = 0

    async def receive(self) -> MutableMapping[str, Any]:
        if self._request:
            return self._request.pop()
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await asyncio.sleep(self._write_seconds)
            self.frames.append((asyncio.get_running_loop().time(), message["body"]))
            if not message.get("more_body"):
                self._left.set()

    def count_task(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        self.tasks_started += 1
        return asyncio.Task(coro, loop=loop, **kwargs)


async def test_a_paced_stream_keeps_its_schedule_however_long_writes_take() -> None:
    client = SlowClient({**BODY, "stream": True}, write_seconds=0.015)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [(b"content-type", b"application/json"), (b"x-sim-latency", b"ttft=30ms;event=20ms")],
        "query_string": b"",
    }
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(client.count_task)
    called = loop.time()  # the simulator's schedule starts at or after this
    try:
        await create_app()(scope, client.receive, client.send)
    finally:
        loop.set_task_factory(previous)
    frames = [at for at, body in client.frames if body]
    assert len(frames) > 20
    # Frame i (i >= 1) is due at start + ttft + event * (i - 1) and is recorded once its 15 ms write
    # is over: never sooner than that (an exact bound, whatever the machine's load). Writes do not
    # add up: the last frame is not twenty writes (0.3 s) late — it would be if each frame's wait
    # began after the previous write instead of at a fixed deadline.
    lateness = [
        at - (called + 0.03 + 0.02 * (position - 1) + 0.015)
        for position, at in enumerate(frames[1:], start=1)
    ]
    assert min(lateness) >= 0, lateness
    assert lateness[-1] < 20 * 0.015, lateness
    assert client.tasks_started <= 1, "one task watches for a disconnect; none is started per frame"

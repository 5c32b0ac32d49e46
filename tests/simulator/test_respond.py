"""A failure after an event stream has started ends it with an error frame in the client's dialect."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from claudegate.errors import InternalServerError
from claudegate.simulator._http import Exchange
from claudegate.sse import validate_anthropic_sse
from tests.simulator.conftest import Live

MODEL = "claude-opus-4-8"
HELLO: list[Any] = [{"role": "user", "content": "Hello there, tell me a few things about streams"}]


@pytest.fixture
def failing_fourth_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fourth write of a stream fail, as a bug in the middle of a stream would."""
    original = Exchange.write
    writes = 0

    async def write(self: Exchange, body: bytes, *, more: bool) -> None:
        nonlocal writes
        if self.sse and more:
            writes += 1
            if writes == 4:
                raise RuntimeError("a bug in the middle of a stream")
        await original(self, body, more=more)

    monkeypatch.setattr(Exchange, "write", write)


async def _stream(server: Live, path: str, body: dict[str, Any]) -> bytes:
    # Paced, so each frame is its own write; the body must then end cleanly (no connection error).
    headers = {"x-sim-latency": "event=1ms"}
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post(path, json={**body, "stream": True}, headers=headers) as response:
            assert response.status == 200
            return await response.read()


@pytest.mark.usefixtures("failing_fourth_write")
async def test_an_anthropic_stream_ends_with_an_error_event(
    server: Live, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await _stream(server, "/v1/messages", {"model": MODEL, "max_tokens": 200, "messages": HELLO})
    frames = raw.decode().split("\n\n")[:-1]
    assert [frame.split("\n")[0] for frame in frames] == [
        "event: message_start",
        "event: content_block_start",
        "event: ping",
        "event: error",
    ]
    error = orjson.loads(frames[-1].split("\n")[1][len("data: ") :])
    assert error["error"] == {"type": "api_error", "message": "Internal server error"}
    with pytest.raises(InternalServerError):
        validate_anthropic_sse(raw)
    assert server.app.simulator.log.entries()[-1]["status"] == 500
    assert "a bug in the middle of a stream" in caplog.text


@pytest.mark.usefixtures("failing_fourth_write")
async def test_an_openai_stream_ends_with_an_error_chunk(server: Live) -> None:
    body = {"model": MODEL, "messages": HELLO}
    raw = await _stream(server, "/v1/chat/completions", body)
    chunks = [orjson.loads(frame[len("data: ") :]) for frame in raw.decode().split("\n\n")[:-1]]
    assert len(chunks) == 4 and all("choices" in chunk for chunk in chunks[:3])
    assert chunks[-1] == {
        "error": {
            "message": "Internal server error",
            "type": "server_error",
            "param": None,
            "code": "api_error",
        }
    }
    assert b"[DONE]" not in raw

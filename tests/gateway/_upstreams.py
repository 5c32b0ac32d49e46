"""Tiny ASGI upstreams the gateway is pointed at: they record what arrives and answer fixed bytes."""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from claudegate.sse import encode_json_event

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SSE_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")
JSON_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True)
class Recorded:
    """One request exactly as the upstream received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_request(scope: MutableMapping[str, Any], receive: Receive) -> Recorded:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        headers[key] = f"{headers[key]},{value.decode('latin-1')}" if key in headers else value.decode()
    return Recorded(scope["method"], scope["path"], scope["query_string"].decode(), headers, body)


async def _answer(send: Send, status: int, body: bytes, content_type: tuple[bytes, bytes]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [content_type]})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Send, body: bytes, piece: int) -> None:
    """Send ``body`` in pieces that cut frames (and lines) anywhere, as TCP may."""
    await send({"type": "http.response.start", "status": 200, "headers": [SSE_TYPE]})
    for start in range(0, len(body), piece):
        await send({"type": "http.response.body", "body": body[start : start + piece], "more_body": True})
    await send({"type": "http.response.body", "body": b""})


class _Recording(ABC):
    """An upstream that records every request before ``answer`` answers it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        request = await read_request(scope, receive)
        self.requests.append(request)
        await self.answer(request, send)

    @abstractmethod
    async def answer(self, request: Recorded, send: Send) -> None:
        """Send the whole answer to ``request``."""


class RecordingAnthropic(_Recording):
    """An Anthropic upstream: records every request, answers ``json_body`` / ``sse_body`` verbatim."""

    def __init__(self, json_body: bytes, sse_body: bytes, input_tokens: int) -> None:
        super().__init__()
        self.json_body = json_body
        self.sse_body = sse_body
        self.input_tokens = input_tokens

    async def answer(self, request: Recorded, send: Send) -> None:
        if request.path == "/v1/messages/count_tokens":
            await _answer(send, 200, orjson.dumps({"input_tokens": self.input_tokens}), JSON_TYPE)
        elif request.json().get("stream") is True:
            await _stream(send, self.sse_body, 37)
        else:
            await _answer(send, 200, self.json_body, JSON_TYPE)


class RecordingOpenAI(_Recording):
    """An OpenAI-compatible upstream: records every request, answers ``json_body`` / ``sse_body``
    verbatim, and the OpenAI error envelope of ``errors[model]`` (status, body) for those models."""

    def __init__(self, json_body: bytes, sse_body: bytes, errors: dict[str, tuple[int, bytes]]) -> None:
        super().__init__()
        self.json_body = json_body
        self.sse_body = sse_body
        self.errors = errors

    async def answer(self, request: Recorded, send: Send) -> None:
        body = request.json()
        error = self.errors.get(body.get("model"))
        if error is not None:
            await _answer(send, error[0], error[1], JSON_TYPE)
        elif body.get("stream") is True:
            await _stream(send, self.sse_body, 37)
        else:
            await _answer(send, 200, self.json_body, JSON_TYPE)


class ReplayUpstream:
    """Answers every POST with the file of ``directory`` named by the request's ``model``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[Recorded] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        request = await read_request(scope, receive)
        self.requests.append(request)
        await _stream(send, (self.directory / request.json()["model"]).read_bytes(), 101)


class SlowUpstream:
    """A slow upstream (Anthropic on ``/v1/messages``, OpenAI on ``/v1/chat/completions``) that notes
    when its client goes away.

    It waits ``header_delay`` seconds before its response headers, then sends one event every
    ``delay`` seconds; ``crlf`` frames its Anthropic SSE with CRLF line ends (valid SSE that some
    servers send).
    """

    def __init__(
        self, deltas: int = 200, delay: float = 0.05, header_delay: float = 0.0, crlf: bool = False
    ) -> None:
        self.deltas = deltas
        self.delay = delay
        self.header_delay = header_delay
        self.crlf = crlf
        self.sent = 0
        self.closed = threading.Event()
        self.closed_at: float | None = None
        self.finished = False

    def _anthropic_frames(self) -> list[bytes]:
        usage = {"input_tokens": 5, "output_tokens": 1}
        start = {"id": "msg_slow", "type": "message", "role": "assistant", "model": "slow", "content": []}
        events = [
            {"type": "message_start", "message": {**start, "stop_reason": None, "usage": usage}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *[
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " word"}}
                for _ in range(self.deltas)
            ],
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
            {"type": "message_stop"},
        ]
        frames = [encode_json_event(event) for event in events]
        return [frame.replace(b"\n", b"\r\n") for frame in frames] if self.crlf else frames

    def _openai_frames(self) -> list[bytes]:
        envelope = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1, "model": "slow"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return b"data: " + orjson.dumps({**envelope, "choices": [choice]}) + b"\n\n"

        usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
        return [
            chunk({"role": "assistant", "content": ""}),
            *[chunk({"content": " word"}) for _ in range(self.deltas)],
            chunk({}, "stop"),
            b"data: " + orjson.dumps({**envelope, "choices": [], "usage": usage}) + b"\n\n",
            b"data: [DONE]\n\n",
        ]

    def _json(self, openai: bool) -> bytes:
        if openai:
            message = {"role": "assistant", "content": " word" * self.deltas}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
            return orjson.dumps(
                {
                    "id": "chatcmpl-slow",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "slow",
                    "choices": [choice],
                    "usage": usage,
                }
            )
        content = [{"type": "text", "text": " word" * self.deltas}]
        return orjson.dumps(
            {
                "id": "msg_slow",
                "type": "message",
                "role": "assistant",
                "model": "slow",
                "content": content,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 9},
            }
        )

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        request = await read_request(scope, receive)

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect" and not self.finished:
                self.closed_at = time.monotonic()
                self.closed.set()

        watcher = asyncio.create_task(watch())
        openai = request.path.endswith("/chat/completions")
        try:
            deadline = time.monotonic() + self.header_delay
            while time.monotonic() < deadline and not self.closed.is_set():
                await asyncio.sleep(0.01)
            if self.closed.is_set():
                return
            if request.json().get("stream") is not True:
                self.finished = True
                await _answer(send, 200, self._json(openai), JSON_TYPE)
                return
            await send({"type": "http.response.start", "status": 200, "headers": [SSE_TYPE]})
            for frame in self._openai_frames() if openai else self._anthropic_frames():
                if self.closed.is_set():
                    return
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                self.sent += 1
                await asyncio.sleep(self.delay)
            self.finished = True
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


class EndlessUpstream:
    """An Anthropic upstream whose stream never ends; ``closed`` is set when its client hangs up."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await read_request(scope, receive)
        watcher = asyncio.ensure_future(receive())
        start = {
            "id": "msg_endless",
            "type": "message",
            "role": "assistant",
            "model": "endless",
            "content": [],
        }
        head = [
            {"type": "message_start", "message": {**start, "usage": {"input_tokens": 3, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ]
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " more" * 40},
        }
        await send({"type": "http.response.start", "status": 200, "headers": [SSE_TYPE]})
        try:
            body = b"".join(encode_json_event(event) for event in head)
            while not watcher.done():
                await send({"type": "http.response.body", "body": body, "more_body": True})
                body = encode_json_event(delta) * 20
                await asyncio.sleep(0)  # let the disconnect through
        finally:
            self.closed.set()
            watcher.cancel()

"""A fast upstream and a lean load generator, both raw asyncio protocols (uvloop + httptools), so
that what the gateway benchmark measures is the gateway, not the tools around it."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import httptools
import orjson

__all__ = [
    "HttpConnection",
    "UpstreamServer",
    "anthropic_stream",
    "canned_completion",
    "canned_message",
    "openai_stream",
]

MODEL = "claude-sonnet-5"


def canned_message(text: str = "Hello from the benchmark upstream.") -> bytes:
    return orjson.dumps(
        {
            "id": "msg_bench_0001",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 20},
        }
    )


def anthropic_stream(deltas: int = 20) -> list[bytes]:
    """An Anthropic SSE stream with ``deltas`` text deltas, one frame per element."""

    def frame(payload: dict[str, Any]) -> bytes:
        kind: str = payload["type"]
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    start = orjson.loads(canned_message())
    start.update(content=[], stop_reason=None, usage={"input_tokens": 12, "output_tokens": 1})
    frames = [
        frame({"type": "message_start", "message": start}),
        frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for i in range(deltas):
        delta = {"type": "text_delta", "text": f"word{i} "}
        frames.append(frame({"type": "content_block_delta", "index": 0, "delta": delta}))
    frames += [
        frame({"type": "content_block_stop", "index": 0}),
        frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": deltas},
            }
        ),
        frame({"type": "message_stop"}),
    ]
    return frames


def canned_completion(text: str = "Hello from the benchmark upstream.") -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
        }
    )


def openai_stream(deltas: int = 20) -> list[bytes]:
    """An OpenAI chat stream with ``deltas`` content deltas and a usage chunk, one frame per element."""
    head = {"id": "chatcmpl-bench01", "object": "chat.completion.chunk", "created": 1_700_000_000}
    head["model"] = MODEL

    def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"

    frames = [frame({"role": "assistant", "content": ""})]
    frames += [frame({"content": f"word{i} "}) for i in range(deltas)]
    frames.append(frame({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": deltas, "total_tokens": 12 + deltas}
    frames.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


class _UpstreamProtocol(asyncio.Protocol):
    def __init__(
        self,
        json_response: bytes,
        stream_frames: list[bytes],
        pace: float | None = None,
        openai: tuple[bytes, list[bytes]] | None = None,
    ) -> None:
        self._json = json_response
        self._frames = stream_frames
        self._pace = pace
        self._openai = openai
        self._parser = httptools.HttpRequestParser(self)
        self._body: list[bytes] = []
        self._url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._url = url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        self._body.clear()
        assert self.transport is not None
        answer, frames = self._json, self._frames
        if self._openai is not None and self._url.endswith(b"/chat/completions"):
            answer, frames = self._openai
        if b'"stream":true' in body or b'"stream": true' in body:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                b"request-id: req_upstream\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            if self._pace is not None:
                self._write_paced(0)
                return
            for frame in frames:
                self.transport.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.transport.write(b"0\r\n\r\n")
        else:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_upstream\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
            )

    def _write_paced(self, index: int) -> None:
        """One frame every ``pace`` seconds, as a model's tokens arrive one by one."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if index == len(self._frames):
            transport.write(b"0\r\n\r\n")
            return
        frame = self._frames[index]
        transport.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        assert self._pace is not None
        asyncio.get_running_loop().call_later(self._pace, self._write_paced, index + 1)


class UpstreamServer:
    """Answers every POST with a canned Anthropic message, or a 20-delta stream when asked: all its
    frames at once, or one every ``pace`` seconds. A path ending ``/chat/completions`` gets the
    OpenAI form of the same (a chat completion, or chunks with a usage chunk and ``[DONE]``)."""

    def __init__(self, deltas: int = 20, *, pace: float | None = None) -> None:
        self._json = canned_message()
        self._frames = anthropic_stream(deltas)
        self._openai = (canned_completion(), openai_stream(deltas))
        self._pace = pace
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _UpstreamProtocol(self._json, self._frames, self._pace, self._openai), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class HttpConnection(asyncio.Protocol):
    """One keep-alive client connection: ``await request(raw)`` gives (status, body, ttfb, total)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._chunks: list[bytes] = []
        self._sent = 0.0
        self._first = 0.0
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, "127.0.0.1", port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection lost"))

    def on_body(self, body: bytes) -> None:
        if not self._chunks:
            self._first = time.perf_counter()
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._done is not None:
            self._done.set_result(None)

    async def request(self, raw: bytes) -> tuple[int, bytes, float, float]:
        assert self.transport is not None
        self._chunks = []
        self._done = asyncio.get_running_loop().create_future()
        self._sent = time.perf_counter()
        self.transport.write(raw)
        await self._done
        end = time.perf_counter()
        status: int = self._parser.get_status_code()
        return status, b"".join(self._chunks), self._first - self._sent, end - self._sent

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A raw HTTP/1.1 POST request."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{head}\r\n"
    ).encode() + body

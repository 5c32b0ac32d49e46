"""Upstreams for provider tests: the simulator, and a scripted raw ASGI app that plays given bytes.

``Sim`` and ``Scripted`` hand out providers pointed at them. Each script gets its own path prefix
(``/<name>/v1/chat/completions``), so tests share one server and still know which requests were
theirs. The app runs on ``LiveServer``'s thread; the test's event loop talks to it only through
thread-safe objects (``threading.Event``, appended lists).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.client import AiohttpTransport
from claudegate.providers import OpenAICompatProvider
from claudegate.simulator import SimulatorApp

KEY = "sk-openai-compat-test-0001"

ASGIMessage = dict[str, Any]


@dataclass
class Script:
    """What the upstream answers: a status, headers, and a body sent as separate writes."""

    pieces: list[bytes]
    status: int = 200
    content_type: bytes = b"text/event-stream"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    gate: threading.Event | None = None
    """When set, the pieces after the first wait until the test sets this event (at most 5 s)."""


@dataclass
class Seen:
    """One request the upstream received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedUpstream:
    """The ASGI app: answers ``/<name>/...`` with the script registered under ``name``."""

    def __init__(self) -> None:
        self._scripts: dict[str, Script] = {}
        self.seen: dict[str, list[Seen]] = {}
        self._names = itertools.count()

    def add(self, script: Script) -> str:
        """Register a script; returns the path prefix (``/s3``) to put in front of ``/v1``."""
        name = f"s{next(self._names)}"
        self._scripts[name] = script
        self.seen[name] = []
        return f"/{name}"

    async def __call__(self, scope: ASGIMessage, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        name = scope["path"].split("/")[1]
        script = self._scripts[name]
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        self.seen[name].append(Seen(scope["path"], headers, orjson.loads(body) if body else {}))
        await send(
            {
                "type": "http.response.start",
                "status": script.status,
                "headers": [(b"content-type", script.content_type), *script.headers],
            }
        )
        for position, piece in enumerate(script.pieces):
            if position == 1 and script.gate is not None:
                await _wait(script.gate, 5.0)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait(gate: threading.Event, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not gate.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.002)


def pieces(raw: bytes, size: int) -> list[bytes]:
    """``raw`` cut into ``size``-byte pieces (frames and UTF-8 characters split anywhere)."""
    return [raw[start : start + size] for start in range(0, len(raw), size)]


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    """OpenAI SSE bytes for the given chunks, ending in ``data: [DONE]`` unless told not to."""
    body = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice."""
    return {
        "id": "chatcmpl-script1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-script",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    """The final usage chunk (``choices: []``)."""
    return {
        "id": "chatcmpl-script1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-script",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def completion(message: dict[str, Any], finish_reason: str, model: str = "gpt-script") -> dict[str, Any]:
    """A ``chat.completion`` with one choice."""
    return {
        "id": "chatcmpl-script1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }


def tool_call(arguments: str) -> dict[str, Any]:
    """A chunk opening tool call 0 with the given arguments."""
    return chunk(
        {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": arguments}}]}
    )


def with_usage(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with running usage, as some servers put on every chunk."""
    return {**data, "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}}


@dataclass
class Sim:
    """The simulator as the upstream, and providers pointed at it."""

    app: SimulatorApp
    base_url: str
    transport: AiohttpTransport

    def provider(self, **headers: str) -> OpenAICompatProvider:
        """A provider sending ``headers`` (``x-sim-fault``, ``x-sim-latency``) on every request."""
        return OpenAICompatProvider(
            base_url=f"{self.base_url}/v1", api_key=KEY, transport=self.transport, default_headers=headers
        )


@dataclass
class Scripted:
    """A scripted upstream, and providers pointed at one script each."""

    app: ScriptedUpstream
    base_url: str
    transport: AiohttpTransport

    def provider(self, script: Script, **options: Any) -> tuple[OpenAICompatProvider, list[Seen]]:
        """A provider for ``script`` (keyed unless ``api_key`` says otherwise), and its requests."""
        prefix = self.app.add(script)
        options.setdefault("api_key", KEY)
        provider = OpenAICompatProvider(
            base_url=f"{self.base_url}{prefix}/v1", transport=self.transport, **options
        )
        return provider, self.app.seen[prefix[1:]]

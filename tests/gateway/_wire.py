"""Raw HTTP for the gateway tests: exact request and response bytes over a real loopback socket."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from claudegate.sse import SSEDecoder

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-client"}
OPENAI_HEADERS = {"authorization": "Bearer sk-client"}


@dataclass(frozen=True)
class Reply:
    """One whole HTTP answer: status, lower-case headers, and the body's exact bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def connect(base_url: str, timeout: float = 15.0) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _encode(body: bytes | dict[str, Any] | None) -> bytes | None:
    return orjson.dumps(body) if isinstance(body, dict) else body


def start(
    base_url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send a request and return once the response headers are in (the body is left unread)."""
    connection = connect(base_url, timeout)
    content = _encode(body)
    sent = {"content-type": "application/json"} if content is not None else {}
    sent.update(headers or {})
    connection.request(method, path, body=content, headers=sent)
    return connection, connection.getresponse()


def call(
    base_url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One request, its whole answer."""
    connection, response = start(base_url, method, path, body, headers, timeout)
    try:
        raw = response.read()
    finally:
        connection.close()
    names = {name.lower(): value for name, value in response.getheaders()}
    return Reply(response.status, names, raw)


def post(
    base_url: str, path: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
) -> Reply:
    return call(base_url, "POST", path, body, headers)


def messages(base_url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    """``POST /v1/messages`` as an Anthropic client sends it."""
    return post(base_url, "/v1/messages", body, {**ANTHROPIC_HEADERS, **(headers or {})})


def chat(base_url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    """``POST /v1/chat/completions`` as an OpenAI client sends it."""
    return post(base_url, "/v1/chat/completions", body, {**OPENAI_HEADERS, **(headers or {})})


def anthropic_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of every frame of an Anthropic SSE body, in order."""
    decoder = SSEDecoder()
    frames = decoder.feed(raw) + decoder.flush()
    return [orjson.loads(frame.data) for frame in frames if frame.data]


def frame_names(raw: bytes) -> list[str]:
    """The ``event:`` name of every Anthropic frame."""
    decoder = SSEDecoder()
    return [frame.event or "" for frame in decoder.feed(raw) + decoder.flush()]


def chat_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of every ``data:`` frame of an OpenAI SSE body (``[DONE]`` left out)."""
    chunks = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunks.append(orjson.loads(line[6:]))
    return chunks


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none match)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        found = dict(_LABEL.findall(match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(3))
    return total


def metrics(base_url: str) -> str:
    reply = call(base_url, "GET", "/metrics")
    assert reply.status == 200
    return reply.body.decode()

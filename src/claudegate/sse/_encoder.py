"""Server-sent events encoder: frames for the wire, nothing else."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["encode_comment", "encode_event", "encode_json_event"]


def encode_event(data: bytes | str, event: str | None = None, *, id: str | None = None) -> bytes:
    """One SSE frame. Multi-line ``data`` becomes several ``data:`` lines, as the spec requires."""
    raw = data.encode() if isinstance(data, str) else data
    head = b""
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if b"\n" in raw or b"\r" in raw:
        lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    return head + b"data: " + raw + b"\n\n"


def encode_json_event(payload: Any, event: str | None = None) -> bytes:
    """One SSE frame whose data is ``payload`` serialised as compact JSON.

    With ``event`` left as None and ``payload`` carrying a string ``type`` (every Anthropic stream
    event does), the ``event:`` line repeats that type, as the live API does.
    """
    if event is None and isinstance(payload, dict):
        kind = payload.get("type")
        if isinstance(kind, str):
            event = kind
    return encode_event(orjson.dumps(payload), event)


def encode_comment(text: str = "") -> bytes:
    """A comment frame (``: text``), used as a keep-alive heartbeat."""
    return b": " + text.encode() + b"\n\n"

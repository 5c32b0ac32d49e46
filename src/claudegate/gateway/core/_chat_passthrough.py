"""OpenAI client → OpenAI-compatible upstream: the request and answer bytes pass through, usage is tapped.

An OpenAI Chat Completions request keeps its exact bytes (``ChatRequest``) beside its canonical
translation. A deployment that speaks OpenAI Chat is sent those bytes — re-encoded only when the
route renames the model or the gateway must ask for usage — and its answer goes back to the client
as it came, so fields no translation maps (``logprobs``, ``n``, ``seed``, ``logit_bias``, vendor
extensions) reach the upstream and come back. Any other deployment of the route gets the canonical
translation; a request that cannot be translated (``n`` > 1, say) is served by the OpenAI-speaking
deployments only.

Usage for the ledger, limits, budget and metrics is read off the answer: a JSON completion's
``usage``, or a stream's final usage chunk. A streamed request that did not ask for usage
(``stream_options.include_usage``) is sent upstream with it, and the usage-only chunk (and the
``"usage":null`` the upstream then adds to each chunk) is taken out of what the client sees, so the
client gets the stream it asked for. An answer without usage (an upstream that reports none, or a
stream the client left) is charged an estimate (input: a token per three request bytes, as at
admission; output: a token per streamed chunk, or per four characters of a JSON answer); a whole
answer without usage is logged and counted in ``claudegate_usage_estimated_total``. The ledger
never records a silent zero.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.errors import APIConnectionError, StreamProtocolError
from claudegate.gateway.core._errors import GatewayError
from claudegate.translate import TranslationError, finish_reason_to_stop_reason, openai_error_to_anthropic
from claudegate.translate._mapping import usage_to_anthropic

__all__ = ["ChatRequest", "ChatStreamTap", "completion_usage", "estimated_usage"]

log = logging.getLogger("claudegate.gateway")

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_NULL_USAGE = b',"usage":null'
"""What an upstream asked for usage adds to every chunk (OpenAI's compact JSON); a ``"`` inside a
JSON string is always escaped, so these bytes are never part of a value."""


@dataclass(slots=True)
class ChatRequest:
    """An OpenAI client's request, as it may go to an OpenAI-speaking upstream."""

    body: dict[str, Any]
    raw: bytes
    untranslatable: TranslationError | None = None
    """Why the request has no canonical translation (only OpenAI-speaking deployments can serve it)."""
    add_usage: bool = False
    """A stream whose client did not ask for usage: the gateway asks, and hides the answer."""
    _edited: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, body: dict[str, Any], raw: bytes, untranslatable: TranslationError | None) -> ChatRequest:
        add_usage = False
        if body.get("stream") is True:
            options = body.get("stream_options")
            add_usage = not (isinstance(options, dict) and options.get("include_usage") is True)
        return cls(body, raw, untranslatable, add_usage)

    def content(self, model: str) -> bytes:
        """The bytes for an upstream that calls the model ``model``: the client's own, unless the
        model is renamed or usage must be asked for (then the parsed body, re-encoded)."""
        if model == self.body.get("model") and not self.add_usage:
            return self.raw
        edited = self._edited.get(model)
        if edited is None:
            body = {**self.body, "model": model}
            if self.add_usage:
                options = body.get("stream_options")
                kept = options if isinstance(options, dict) else {}
                body["stream_options"] = {**kept, "include_usage": True}
            edited = self._edited[model] = orjson.dumps(body)
        return edited

    def refusal(self, deployment: str) -> GatewayError:
        """The 400 for a deployment that would need the translation this request cannot have."""
        error = self.untranslatable
        assert error is not None
        return GatewayError(
            400,
            "invalid_request_error",
            f"{error.message} (deployment {deployment!r} of this model does not speak OpenAI Chat, "
            "and no deployment that does could answer)",
            error.param,
        )


def estimated_usage(request_bytes: int, output_tokens: int) -> dict[str, Any]:
    """Usage charged when the upstream reports none (see the module docstring)."""
    return {"input_tokens": max(1, math.ceil(request_bytes / 3)), "output_tokens": max(0, output_tokens)}


def completion_usage(raw: bytes, request_bytes: int) -> tuple[dict[str, Any], str | None, bool]:
    """(canonical usage, stop reason, whether the usage is an estimate) of an OpenAI completion."""
    try:
        completion = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StreamProtocolError(f"the upstream answered a body that is not JSON: {raw[:200]!r}") from None
    if not isinstance(completion, dict):
        raise StreamProtocolError("the upstream's answer is not a JSON object")
    choices = completion.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    stop_reason = finish_reason_to_stop_reason(first.get("finish_reason"))
    usage = completion.get("usage")
    if isinstance(usage, dict):
        return usage_to_anthropic(usage), stop_reason, False
    characters = 0
    for choice in choices if isinstance(choices, list) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            characters += len(orjson.dumps(message))
    return estimated_usage(request_bytes, math.ceil(characters / 4)), stop_reason, True


def _frames_end(data: bytes) -> int:
    """Where the last whole frame of ``data`` ends (0: none yet)."""
    end = data.rfind(b"\n\n")
    end = end + 2 if end >= 0 else 0
    if b"\r" in data:  # rarer line ends: CRLF, or CR alone
        for separator in (b"\r\n\r\n", b"\r\r"):
            found = data.rfind(separator)
            if found >= 0:
                end = max(end, found + len(separator))
    return end


def _value_after(data: bytes, end: int) -> bytes:
    """The first byte of the value of the quoted name ending at ``end`` (b"" when not a key)."""
    rest = data[end : end + 16].lstrip()
    return rest[1:].lstrip()[:1] if rest[:1] == b":" else b""


def _marker(data: bytes, start: int) -> int:
    """Where the first frame worth decoding is, from ``start`` (-1: none): ``[DONE]``, an ``error``
    key, or a ``usage`` key whose value is an object. A ``"`` inside a JSON string is always
    escaped, so a key's quotes never match inside a value. Byte searches: most reads hold none."""
    first = data.find(b"[DONE]", start)
    at = data.find(b'"error"', start)
    while at >= 0 and not _value_after(data, at + 7):
        at = data.find(b'"error"', at + 7)
    if at >= 0 and (first < 0 or at < first):
        first = at
    at = data.find(b'"usage"', start)
    while at >= 0 and (data.startswith(b":null", at + 7) or _value_after(data, at + 7) != b"{"):
        at = data.find(b'"usage"', at + 7)
    if at >= 0 and (first < 0 or at < first):
        first = at
    return first


def _frame_start(data: bytes, position: int) -> int:
    """Where the frame around ``position`` begins."""
    start = data.rfind(b"\n\n", 0, position)
    start = start + 2 if start >= 0 else 0
    if b"\r" in data:
        for separator in (b"\r\n\r\n", b"\r\r"):
            found = data.rfind(separator, 0, position)
            if found >= 0:
                start = max(start, found + len(separator))
    return start


def _data(frame: bytes) -> bytes:
    """The ``data`` of one SSE frame (its ``data:`` lines joined)."""
    lines = [line for line in frame.splitlines() if line.startswith(b"data:")]
    values = [line[6:] if line[5:6] == b" " else line[5:] for line in lines]
    return values[0] if len(values) == 1 else b"\n".join(values)


class ChatStreamTap:
    """OpenAI SSE bytes in, whole frames out (the upstream's own), usage and errors read off.

    Only frames that may carry usage, an error or ``[DONE]`` are decoded; the rest pass as bytes.
    """

    __slots__ = ("_pending", "add_usage", "done", "error", "lines", "usage")

    def __init__(self, add_usage: bool) -> None:
        self.add_usage = add_usage
        self._pending = b""
        self.usage: dict[str, Any] | None = None
        """The canonical usage of the final usage chunk, once it went by."""
        self.error: dict[str, Any] | None = None
        """An in-stream error chunk, as an Anthropic ``error`` event."""
        self.done = False
        """``data: [DONE]`` went by: nothing follows."""
        self.lines = 0
        """Lines seen, two a frame (the output estimate when no usage comes)."""

    def feed(self, chunk: bytes) -> bytes:
        """The whole frames the bytes so far complete (b"" when none yet)."""
        data = self._pending + chunk if self._pending else chunk
        cut = _frames_end(data)
        if not cut:
            self._pending = data
            return b""
        ready, self._pending = data[:cut], data[cut:]
        return self._frames(ready)

    def finish(self) -> bytes:
        """The last frame when it lacks its blank line; ``APIConnectionError`` when the upstream's
        stream was cut short (no ``[DONE]`` and no usage chunk)."""
        rest, self._pending = self._pending, b""
        tail = self._frames(rest) if rest.strip() else b""
        # Some servers skip [DONE]; once the usage chunk (always the last) is in, nothing is missing.
        if not self.done and self.usage is None and self.error is None:
            raise APIConnectionError("the upstream stream ended before data: [DONE]")
        return tail

    def _frames(self, ready: bytes) -> bytes:
        self.lines += ready.count(b"\n")
        # The usage chunk and [DONE] end the stream: only the last two frames can hold them, unless
        # an error chunk is in (rare: one search for it).
        start = 0
        if len(ready) > 2048 and b'"error"' not in ready:
            start = _frame_start(ready, _frame_start(ready, len(ready) - 1) - 1)
        marker = _marker(ready, start)
        if marker >= 0:
            ready = self._inspect(ready, marker)
        return ready.replace(_NULL_USAGE, b"") if self.add_usage else ready

    def _inspect(self, ready: bytes, marker: int) -> bytes:
        """Read the frames that hold a marker; the others stay bytes."""
        out: list[bytes] = []
        kept_from = 0
        while marker >= 0:
            start = _frame_start(ready, marker)
            boundary = _BOUNDARY.search(ready, marker)
            end = boundary.end() if boundary is not None else len(ready)
            if not self._keep(_data(ready[start:end]).strip()):
                out.append(ready[kept_from:start])
                kept_from = end
            marker = _marker(ready, end)
        if not out:
            return ready
        out.append(ready[kept_from:])
        return b"".join(out)

    def _keep(self, data: bytes) -> bool:
        """Read one frame's data; False for the usage-only chunk the client did not ask for."""
        if data == b"[DONE]":
            self.done = True
            return True
        if not data.startswith(b"{"):
            return True
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamProtocolError(f"the upstream sent a chunk that is not JSON: {data[:200]!r}") from None
        if not isinstance(payload, dict):
            return True
        if payload.get("error"):
            self.error = openai_error_to_anthropic(payload)
            return True
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return True
        self.usage = usage_to_anthropic(usage)
        choices = payload.get("choices")
        return not (self.add_usage and isinstance(choices, list) and not choices)

    def estimate(self, request_bytes: int) -> dict[str, Any]:
        """Usage for a stream that reported none: a token per content chunk."""
        return estimated_usage(request_bytes, self.lines // 2 - 3)


def log_estimate(request_id: str, deployment: str) -> None:
    """Note that a call's usage is the gateway's estimate (the upstream reported none)."""
    log.warning(
        "request %s: deployment %s reported no usage; the ledger records an estimate", request_id, deployment
    )

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
client gets the stream it asked for. An upstream that reports no usage at all is charged an
estimate (input: a token per three request bytes, as at admission; output: a token per streamed
chunk, or per four characters of a JSON answer), logged and counted in
``claudegate_usage_estimated_total``: the ledger never records a silent zero.
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


def _data(frame: bytes) -> bytes:
    """The ``data`` of one SSE frame (its ``data:`` lines joined)."""
    lines = [line for line in frame.splitlines() if line.startswith(b"data:")]
    values = [line[6:] if line[5:6] == b" " else line[5:] for line in lines]
    return values[0] if len(values) == 1 else b"\n".join(values)


class ChatStreamTap:
    """OpenAI SSE bytes in, whole frames out (the upstream's own), usage and errors read off.

    Only frames that may carry usage, an error or ``[DONE]`` are decoded; the rest pass as bytes.
    """

    __slots__ = ("_pending", "add_usage", "chunks", "done", "error", "usage")

    def __init__(self, add_usage: bool) -> None:
        self.add_usage = add_usage
        self._pending = b""
        self.usage: dict[str, Any] | None = None
        """The canonical usage of the final usage chunk, once it went by."""
        self.error: dict[str, Any] | None = None
        """An in-stream error chunk, as an Anthropic ``error`` event."""
        self.done = False
        """``data: [DONE]`` went by: nothing follows."""
        self.chunks = 0
        """``data:`` frames seen (the output estimate when no usage comes)."""

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
        self.chunks += ready.count(b"data:")
        interesting = b"[DONE]" in ready or b'"error"' in ready
        if not interesting and b'"usage"' in ready:
            nulls = ready.count(b'"usage":null') + ready.count(b'"usage": null')
            interesting = ready.count(b'"usage"') > nulls
        if interesting:
            ready = self._inspect(ready)
        if self.add_usage and _NULL_USAGE in ready:
            ready = ready.replace(_NULL_USAGE, b"")
        return ready

    def _inspect(self, ready: bytes) -> bytes:
        kept: list[bytes] = []
        start = 0
        for boundary in _BOUNDARY.finditer(ready):
            frame = ready[start : boundary.end()]
            start = boundary.end()
            if self._keep(frame):
                kept.append(frame)
        if start < len(ready) and self._keep(ready[start:]):
            kept.append(ready[start:])
        return b"".join(kept)

    def _keep(self, frame: bytes) -> bool:
        """Read one frame; False for the usage-only chunk the client did not ask for."""
        data = _data(frame).strip()
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
        return estimated_usage(request_bytes, self.chunks - 2)


def log_estimate(request_id: str, deployment: str) -> None:
    """Note that a call's usage is the gateway's estimate (the upstream reported none)."""
    log.warning(
        "request %s: deployment %s reported no usage; the ledger records an estimate", request_id, deployment
    )

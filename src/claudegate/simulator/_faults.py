"""Injected faults and latency: the failures a client must survive, on demand.

A fault comes from the ``x-sim-fault`` request header, or from ``SimulatorConfig.fault`` for
requests without the header. Syntax::

    x-sim-fault: <fault>[, <fault>...]
    <fault>     = <kind>[;<param>=<value>]...
    <kind>      = <status> | reset-before | reset-mid:<N> | error-mid:<N> | stall
    <param>     = times | retry-after | retry-after-ms | should-retry | type

- ``<status>``: any 4xx/5xx code (429, 529, 500, 400, ...): the error response with the exact
  envelope for that status, ``request-id``, ``x-should-retry`` (true for 408, 409, 429 and 5xx),
  ``retry-after`` on 429/529 (default 1 s; ``retry-after=N`` seconds; ``retry-after-ms=N`` sends
  ``retry-after-ms`` too) and, on 429, the ``anthropic-ratelimit-*`` headers.
- ``reset-before``: the TCP connection is reset before any response byte.
- ``reset-mid:N``: a stream sends N events, then the connection is reset (no error frame); a JSON
  response sends its headers and half its body first.
- ``error-mid:N``: a stream sends N events, then an ``event: error`` frame (``overloaded_error``,
  or ``type=api_error`` ...) and ends; a JSON request gets that error as its status.
- ``stall``: response headers, then silence until the client gives up; the connection is reset
  after ``SimulatorConfig.stall_timeout`` if it has not.
- ``times=N``: the fault hits only the first N requests carrying the same header value. Faults
  in a comma list take turns: ``529;times=1, 500;times=2`` fails one request with 529, the next
  two with 500, and lets the rest through. A fault without ``times`` never runs out.
- ``should-retry=true|false`` overrides ``x-should-retry``; ``type=`` overrides the envelope type.

Faults apply to every ``/v1/`` endpoint (``/v1/chat/completions`` answers in OpenAI's error shape,
its in-stream error as a ``data: {"error": ...}`` chunk). Mid-stream counts are capped so the
fault lands before the stream's last frame (``message_stop`` or ``data: [DONE]``).

Latency: ``x-sim-latency: ttft=<seconds>;event=<seconds>`` (a value may end in ``ms`` or ``s``)
overrides ``time_to_first_token`` and ``event_delay`` for one request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from claudegate.errors import ERROR_TYPE_STATUS

__all__ = ["ERROR_TYPES", "MAX_SPECS", "Fault", "FaultBook", "Latency", "parse_faults", "parse_latency"]

FaultKind = Literal["status", "reset-before", "reset-mid", "error-mid", "stall"]

ERROR_TYPES: Mapping[int, str] = {status: name for name, status in ERROR_TYPE_STATUS.items()}
"""The envelope ``error.type`` of each documented error status."""
ERROR_MESSAGES: Mapping[str, str] = {
    "invalid_request_error": "Simulated invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out.",
    "overloaded_error": "Overloaded",
}
MAX_SPECS = 4096
"""How many distinct fault specifications ``FaultBook`` remembers (parsed, and counted for ``times``)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault (see the module docstring for what each kind does)."""

    kind: FaultKind
    spec: str
    status: int = 0
    after: int = 0
    error_type: str = "api_error"
    times: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    should_retry: bool | None = None

    @property
    def message(self) -> str:
        return ERROR_MESSAGES.get(self.error_type, "Simulated error.")


def _error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _parse_one(text: str) -> Fault:
    head, *params = [part.strip() for part in text.split(";")]
    name, _, count = head.partition(":")
    options: dict[str, str] = {}
    for param in params:
        key, sep, value = param.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"fault parameter {param!r} is not key=value")
        options[key.strip().lower()] = value.strip()
    unknown = set(options) - {"times", "retry-after", "retry-after-ms", "should-retry", "type"}
    if unknown:
        raise ValueError(f"unknown fault parameter {sorted(unknown)[0]!r}")
    kind: FaultKind
    status = after = 0
    if name.isdigit():
        kind, status = "status", int(name)
        if not 400 <= status <= 599:
            raise ValueError(f"fault status {status} is not an error status")
    elif name in ("reset-before", "stall"):
        kind = "reset-before" if name == "reset-before" else "stall"
    elif name in ("reset-mid", "error-mid"):
        kind = "reset-mid" if name == "reset-mid" else "error-mid"
        after = int(count) if count else 1
    else:
        raise ValueError(f"unknown fault {name!r}")
    error_type = options.get("type") or (_error_type_for(status) if status else "overloaded_error")
    if kind == "error-mid":
        status = ERROR_TYPE_STATUS.get(error_type, 500)
    should_retry = options.get("should-retry")
    if should_retry not in (None, "true", "false"):
        raise ValueError("should-retry must be true or false")
    times = int(options["times"]) if "times" in options else None
    if (times is not None and times < 0) or after < 0:
        raise ValueError("times and event counts must not be negative")
    return Fault(
        kind=kind,
        spec=text.strip(),
        status=status,
        after=after,
        error_type=error_type,
        times=times,
        retry_after=float(options["retry-after"]) if "retry-after" in options else None,
        retry_after_ms=int(options["retry-after-ms"]) if "retry-after-ms" in options else None,
        should_retry=None if should_retry is None else should_retry == "true",
    )


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Parse an ``x-sim-fault`` value; raises ``ValueError`` naming what is wrong."""
    faults = tuple(_parse_one(part) for part in text.split(",") if part.strip())
    if not faults:
        raise ValueError("empty fault specification")
    return faults


@dataclass
class FaultBook:
    """Counts requests per fault specification, so ``times=N`` faults run out.

    Only specifications with a ``times`` count are counted. Past ``MAX_SPECS`` distinct ones the
    count used least recently is forgotten (that specification starts again from its first
    fault), so a client sending ever-new header values cannot grow the book without bound.
    """

    _parsed: dict[str, tuple[Fault, ...]] = field(default_factory=dict)
    _seen: OrderedDict[str, int] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def select(self, spec: str) -> Fault | None:
        """The fault this request gets under ``spec`` (None once every fault has run out)."""
        faults = self._parsed.get(spec)
        if faults is None:
            faults = parse_faults(spec)
            if len(self._parsed) < MAX_SPECS:
                self._parsed[spec] = faults
        if all(fault.times is None for fault in faults):
            return faults[0]
        with self._lock:
            position = self._seen.pop(spec, 0)
            self._seen[spec] = position + 1
            if len(self._seen) > MAX_SPECS:
                self._seen.popitem(last=False)
        for fault in faults:
            if fault.times is None:
                return fault
            if position < fault.times:
                return fault
            position -= fault.times
        return None

    def reset(self) -> None:
        """Start every ``times=N`` count again."""
        with self._lock:
            self._seen.clear()


@dataclass(frozen=True, slots=True)
class Latency:
    """Delays of one response, in seconds."""

    first_token: float = 0.0
    per_event: float = 0.0


def _seconds(value: str) -> float:
    value = value.strip().lower()
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    if value.endswith("s"):
        return float(value[:-1])
    return float(value)


MAX_LATENCY = 3600.0
"""The longest latency a request may ask for (seconds)."""


def parse_latency(text: str, default: Latency) -> Latency:
    """Parse an ``x-sim-latency`` value (``ttft=0.2;event=5ms``) over the configured defaults."""
    first, per_event = default.first_token, default.per_event
    for part in text.replace(",", ";").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("ttft", "event"):
            raise ValueError(f"latency part {part.strip()!r} is not ttft=<s> or event=<s>")
        seconds = _seconds(value)
        if not 0 <= seconds <= MAX_LATENCY:  # also refuses nan and inf
            raise ValueError(f"latency must be between 0 and {MAX_LATENCY:g} seconds")
        if key == "ttft":
            first = seconds
        else:
            per_event = seconds
    return Latency(first, per_event)

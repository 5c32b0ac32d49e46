"""The access log: one line per HTTP request, and per model call made over a WebSocket, Socket.IO
or GraphQL connection, on the ``claudegate.access`` logger.

Each line is a JSON object (``FIELDS``, in that order): who asked (key id and name, never the key),
what (surface, method, route, model), how it went (deployment, attempts, status, error type), how
long (latency and time to first byte, milliseconds) and what it cost (tokens in, out and cached;
cost in USD). The trace id ties it to the request's spans. No prompt or completion text is ever
logged. The app writes an HTTP request's line when its answer has gone (``record``); the core
writes a connection's call's line when the call settles (``record_call``, for a ``Call`` whose
surface set its ``access``). ``claudegate serve`` attaches a handler writing to stderr: JSON lines,
or readable ones when stderr is a terminal (``observability.access_log.format``); an application
embedding the gateway attaches its own handler to ``claudegate.access``.

This module imports nothing of the core at run time: the core holds the ``AccessLog``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import orjson

from claudegate.gateway._config import AccessLogConfig

if TYPE_CHECKING:
    from claudegate.gateway._http import Exchange
    from claudegate.gateway.core._call import Call

__all__ = ["ACCESS_LOGGER", "FIELDS", "AccessLog", "ConsoleFormatter", "JsonLineFormatter", "attach_handler"]

ACCESS_LOGGER = "claudegate.access"
FIELDS = (
    "request_id",
    "trace_id",
    "key_id",
    "key_name",
    "surface",
    "method",
    "route",
    "model",
    "deployment",
    "attempts",
    "status",
    "stream",
    "latency_ms",
    "ttfb_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "error_type",
)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 3) if seconds is not None else None


def _tokens(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) else 0


class AccessLog:
    """Writes one line per request or connection call (see the module docstring)."""

    __slots__ = ("enabled", "level", "logger")

    def __init__(self, config: AccessLogConfig) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self.level = _LEVELS[config.level]
        self.enabled = config.enabled

    def record(self, exchange: Exchange, status: int, route: str, error_type: str | None) -> None:
        """Log ``exchange``'s line, when the logger takes the configured level."""
        if self.enabled and self.logger.isEnabledFor(self.level):
            self._write(self.entry(exchange, status, route, error_type))

    def record_call(self, call: Call) -> None:
        """Log the line of a call made over a connection (its surface set ``call.access``), when
        the logger takes the configured level."""
        if self.enabled and self.logger.isEnabledFor(self.level):
            self._write(self.call_entry(call))

    def _write(self, entry: dict[str, Any]) -> None:
        # The record made directly: ``Logger.log`` would look up the caller's frame for a line
        # that never shows it.
        logger = self.logger
        message = orjson.dumps(entry).decode()
        logger.handle(
            logger.makeRecord(ACCESS_LOGGER, self.level, "", 0, message, (), None, extra={"access": entry})
        )

    @staticmethod
    def entry(exchange: Exchange, status: int, route: str, error_type: str | None) -> dict[str, Any]:
        """The fields of ``exchange``'s line."""
        call = exchange.call
        entry: dict[str, Any] = dict.fromkeys(FIELDS)
        entry["request_id"] = exchange.request_id
        entry["method"] = exchange.method
        entry["route"] = route
        entry["status"] = status
        entry["latency_ms"] = _ms(time.perf_counter() - exchange.started)
        entry["ttfb_ms"] = _ms(exchange.first_byte)
        entry["error_type"] = error_type
        if call is None or call.span is None:  # no span of ours: the client's trace, if it sent one
            parent = exchange.headers.get(b"traceparent")
            if parent is not None and len(parent) >= 35:
                entry["trace_id"] = parent[3:35].decode("latin-1")
        if call is None:
            entry["stream"] = False
            return entry
        outcome = call.outcome
        if status == 499 and outcome.settled and outcome.status != 499:
            # The client hung up after the whole answer (while the call settled): it was answered.
            entry["status"] = outcome.status
        _call_fields(entry, call)
        return entry

    @staticmethod
    def call_entry(call: Call) -> dict[str, Any]:
        """The fields of the line of a call made over a connection, as it settles: its status is
        the one the call came to (499: the client cancelled it or left)."""
        outcome = call.outcome
        method, route = call.access or ("", "")
        entry: dict[str, Any] = dict.fromkeys(FIELDS)
        entry["request_id"] = call.request_id
        entry["method"] = method
        entry["route"] = route
        entry["status"] = outcome.status
        latency = time.perf_counter() - call.started
        entry["latency_ms"] = _ms(latency)
        # A whole answer (or an error, or a stream that sent nothing) goes out as the call settles.
        entry["ttfb_ms"] = _ms(call.first_byte if call.first_byte is not None else latency)
        if call.span is None:
            parent = call.headers.get("traceparent")
            if parent is not None and len(parent) >= 35:
                entry["trace_id"] = parent[3:35]
        _call_fields(entry, call)
        return entry


def _call_fields(entry: dict[str, Any], call: Call) -> None:
    """The fields a call fills: who, which model and deployment, the usage, cost and error."""
    outcome, principal = call.outcome, call.principal
    usage = outcome.usage
    key = principal.key
    span = call.span
    if span is not None:
        context = span.get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
    entry["key_id"] = principal.account
    entry["key_name"] = key.name if key is not None else None
    entry["surface"] = call.dialect
    entry["model"] = outcome.model or call.model
    entry["deployment"] = outcome.deployment or None
    entry["attempts"] = outcome.attempts
    entry["stream"] = call.stream
    entry["input_tokens"] = _tokens(usage, "input_tokens")
    entry["output_tokens"] = _tokens(usage, "output_tokens")
    entry["cached_tokens"] = _tokens(usage, "cache_read_input_tokens")
    entry["cost"] = round(outcome.cost, 6)
    if entry["error_type"] is None and outcome.error is not None:
        entry["error_type"] = outcome.error.error_type


class JsonLineFormatter(logging.Formatter):
    """The line as it was logged: one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class ConsoleFormatter(logging.Formatter):
    """A short readable line: ``12:00:01 200 POST /v1/messages claude-x → dep 2 try 812 ms 12→40 tok``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] | None = getattr(record, "access", None)
        if entry is None:
            return record.getMessage()
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [clock, str(entry["status"]), entry["method"], entry["route"]]
        if entry["model"]:
            parts.append(str(entry["model"]))
        if entry["deployment"]:
            parts.append(f"→ {entry['deployment']}")
        if entry["attempts"] and entry["attempts"] > 1:
            parts.append(f"({entry['attempts']} attempts)")
        parts.append(f"{entry['latency_ms']:.1f} ms")
        if entry["input_tokens"] or entry["output_tokens"]:
            parts.append(f"{entry['input_tokens']}→{entry['output_tokens']} tok ${entry['cost']:.6f}")
        if entry["key_name"]:
            parts.append(f"key {entry['key_name']}")
        if entry["error_type"]:
            parts.append(str(entry["error_type"]))
        parts.append(entry["request_id"])
        return " ".join(parts)


def attach_handler(config: AccessLogConfig, stream: IO[str] | None = None) -> logging.Handler | None:
    """Write the access log to ``stream`` (stderr): JSON lines, or readable lines on a terminal
    (``format: auto``). None, and nothing attached, when the access log is off."""
    if not config.enabled:
        return None
    target = stream if stream is not None else sys.stderr
    console = config.format == "console" or (config.format == "auto" and target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(ConsoleFormatter() if console else JsonLineFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[config.level])
    logger.propagate = False
    return handler

"""The access log: one line per HTTP request on the ``claudegate.access`` logger.

Each line is a JSON object (``FIELDS``, in that order): who asked (key id and name, never the key),
what (surface, method, route, model), how it went (deployment, attempts, status, error type), how
long (latency and time to first byte, milliseconds) and what it cost (tokens in, out and cached;
cost in USD). The trace id ties it to the request's spans. No prompt or completion text is ever
logged. ``claudegate serve`` attaches a handler writing to stderr: JSON lines, or readable ones
when stderr is a terminal (``observability.access_log.format``); an application embedding the
gateway attaches its own handler to ``claudegate.access``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import orjson

from claudegate.gateway._config import AccessLogConfig
from claudegate.gateway.core._tracing import trace_id_of

if TYPE_CHECKING:
    from claudegate.gateway._http import Exchange

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
    """Writes one line per request (see the module docstring)."""

    __slots__ = ("enabled", "level", "logger")

    def __init__(self, config: AccessLogConfig) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self.level = _LEVELS[config.level]
        self.enabled = config.enabled

    def record(self, exchange: Exchange, status: int, route: str, error_type: str | None) -> None:
        """Log ``exchange``'s line, when the logger takes the configured level."""
        if not self.enabled or not self.logger.isEnabledFor(self.level):
            return
        entry = self.entry(exchange, status, route, error_type)
        self.logger.log(self.level, orjson.dumps(entry).decode(), extra={"access": entry})

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
        outcome, principal = call.outcome, call.principal
        if status == 499 and outcome.settled and outcome.status != 499:
            # The client hung up after the whole answer (while the call settled): it was answered.
            entry["status"] = outcome.status
        usage = outcome.usage
        key = principal.key
        if call.span is not None:
            entry["trace_id"] = trace_id_of(call.span)
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
        if error_type is None and outcome.error is not None:
            entry["error_type"] = outcome.error.error_type
        return entry


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

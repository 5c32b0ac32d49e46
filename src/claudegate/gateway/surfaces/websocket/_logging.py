"""Keeping WebSocket keys out of logs.

At debug level the ``websockets`` protocol under uvicorn logs every handshake header (the key in
``x-api-key``, ``Authorization`` or ``Sec-WebSocket-Protocol``) and every frame (a ``session.auth``
message carries the key) to the ``uvicorn.error`` logger. ``install_redaction()`` puts a filter on
the loggers it uses that blanks those header values and every data frame's payload before any
handler sees the record, and scrubs anything shaped like a gateway key (``cg-…``, or a
``claudegate.key.…`` subprotocol) from messages, arguments and exception texts (which it formats
into the record for that).
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["SecretRedactor", "install_redaction"]

LOGGERS = ("uvicorn.error", "websockets", "websockets.server", "websockets.protocol", "websockets.legacy")
SECRET_HEADERS = frozenset(
    {"x-api-key", "authorization", "sec-websocket-protocol", "cookie", "proxy-authorization"}
)
REDACTED = "[redacted]"
# A key offered as a subprotocol, and a gateway key anywhere (``cg-`` and its urlsafe tail).
_SECRETS = re.compile(r"(claudegate\.key\.)[^\s,;'\"]*|\b(cg-)[A-Za-z0-9_\-]{16,}")


def _scrub(text: str) -> str:
    return _SECRETS.sub(lambda match: (match.group(1) or match.group(2)) + REDACTED, text)


def _frame_summary(value: Any) -> str | None:
    """A data frame's log line without its payload (None: not a data frame)."""
    try:
        from websockets.frames import Frame, Opcode
    except ImportError:  # pragma: no cover - websockets ships with uvicorn[standard]
        return None
    if not isinstance(value, Frame) or value.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
        return None
    return f"{value.opcode.name} {REDACTED} [{len(value.data)} bytes]"


def _clean(value: Any) -> Any:
    summary = _frame_summary(value)
    if summary is not None:
        return summary
    return _scrub(value) if isinstance(value, str) else value


class SecretRedactor(logging.Filter):
    """Blanks secret header values, frame payloads and keys in a record (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if len(args) == 2 and isinstance(args[0], str) and args[0].lower() in SECRET_HEADERS:
                record.args = (args[0], REDACTED)
            else:
                record.args = tuple(_clean(arg) for arg in args)
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg)
        if record.exc_info is not None and record.exc_info[0] is not None:
            # A handshake error's text may quote a header: format it now, scrubbed.
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_REDACTOR = SecretRedactor()


def install_redaction() -> None:
    """Put the redacting filter on the loggers the WebSocket layer writes to (once each)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)

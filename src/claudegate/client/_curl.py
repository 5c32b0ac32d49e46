"""Render a request as a ``curl`` command for diagnostics, with every secret redacted."""

from __future__ import annotations

import shlex

from claudegate.client._secrets import SECRET_HEADERS
from claudegate.client._transport import Request

__all__ = ["to_curl"]

_PLACEHOLDER = {"x-api-key": "$ANTHROPIC_API_KEY", "authorization": "Bearer $ANTHROPIC_API_KEY"}


def to_curl(request: Request) -> str:
    """A ready-to-paste ``curl`` command; the key comes from ``$ANTHROPIC_API_KEY`` in the shell.

    The key itself never appears: secret headers are written as shell variables (left unquoted
    for the shell to expand) or ``<redacted>``.
    """
    parts = ["curl", "-sS", "-X", request.method, shlex.quote(request.url)]
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            shown = _PLACEHOLDER.get(lowered, "<redacted>")
            parts += ["-H", f'"{name}: {shown}"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if request.stream:
        parts.append("-N")
    if request.content:
        parts += ["--data-binary", shlex.quote(request.content.decode("utf-8", errors="replace"))]
    return " ".join(parts)

"""claudegate: a typed Claude client, a tool runtime, and a gateway that speaks Anthropic and OpenAI.

>>> from claudegate import AsyncClient, RetryPolicy
>>> async with AsyncClient(retry=RetryPolicy()) as client:
...     message = await client.messages.create(
...         model="claude-sonnet-5", max_tokens=256, messages=[{"role": "user", "content": "Hi"}]
...     )

Packages: ``claudegate.client`` (the SDK), ``claudegate.types`` (wire models), ``claudegate.sse``,
``claudegate.translate`` (OpenAI ⇄ Anthropic), ``claudegate.simulator`` (a local Claude),
``claudegate.testing`` (serve an ASGI app on loopback), ``claudegate.errors`` (the error tree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claudegate._version import __version__

if TYPE_CHECKING:
    from claudegate.client import AsyncClient, Client, MockTransport, RetryPolicy, Timeout
    from claudegate.errors import (
        APIConnectionError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        CircuitOpenError,
        ClaudegateError,
        InternalServerError,
        NotFoundError,
        OverloadedError,
        PermissionDeniedError,
        QuotaExceededError,
        RateLimitError,
        RequestTooLargeError,
        StreamProtocolError,
        UserError,
    )

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "CircuitOpenError",
    "ClaudegateError",
    "Client",
    "InternalServerError",
    "MockTransport",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTooLargeError",
    "RetryPolicy",
    "StreamProtocolError",
    "Timeout",
    "UserError",
    "__version__",
]

_CLIENT_NAMES = frozenset({"AsyncClient", "Client", "MockTransport", "RetryPolicy", "Timeout"})


def __getattr__(name: str) -> Any:
    # Resolved on first use, so that importing a pure layer (claudegate.types, .sse, .translate)
    # never loads the HTTP client.
    if name in _CLIENT_NAMES:
        import claudegate.client

        return getattr(claudegate.client, name)
    if name in __all__:
        import claudegate.errors

        return getattr(claudegate.errors, name)
    raise AttributeError(f"module 'claudegate' has no attribute {name!r}")

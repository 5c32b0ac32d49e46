"""Keyword arguments accepted by the client and its calls, as typed dictionaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Required, TypedDict

from claudegate.client._pipeline import Reliability
from claudegate.client._retry import RetryPolicy
from claudegate.client._timeouts import Timeout
from claudegate.client._transport import AsyncTransport

__all__ = [
    "BatchRequestParam",
    "ClientOptions",
    "CountTokensArgs",
    "MessageCreateArgs",
    "RequestOptions",
]

AuthScheme = Literal["x-api-key", "bearer"]


class ClientOptions(TypedDict, total=False):
    """Options of ``AsyncClient`` and ``Client``.

    - ``api_key``: the key (else ``ANTHROPIC_API_KEY``, else the secrets file).
    - ``base_url``: default ``ANTHROPIC_BASE_URL`` or ``https://api.anthropic.com``.
    - ``check_key_format``: when ``base_url`` is ``api.anthropic.com``, refuse a key that does not
      begin with ``sk-ant-`` (default True). Other base URLs (gateways, local servers) take any
      key format, and so does a client on a ``MockTransport``; False sends any key even to the
      Anthropic API.
    - ``auth``: send the key as ``x-api-key`` (default) or ``Authorization: Bearer``.
    - ``anthropic_version``: the ``anthropic-version`` header (default ``2023-06-01``).
    - ``betas``: ``anthropic-beta`` values sent with every request.
    - ``default_headers``: extra headers sent with every request.
    - ``timeout``: a ``Timeout`` or seconds (default: total 600 s, connect 5 s, read 600 s).
    - ``retry``: a ``RetryPolicy``; the default is None: no retry unless asked for.
    - ``transport``: an ``AsyncTransport`` (default: pooled aiohttp; ``MockTransport`` in tests).
    - ``validate_requests``: check requests before sending them (default True).
    - ``max_connections``: size of the default transport's connection pool.
    - ``reliability``: a ``Reliability`` (quota, rate limiter, failover, circuit breaker,
      compression) applied to every call; the default is None: none of it.
    """

    api_key: str | Any
    base_url: str
    check_key_format: bool
    auth: AuthScheme
    anthropic_version: str
    betas: Sequence[str]
    default_headers: Mapping[str, str]
    timeout: Timeout | float | None
    retry: RetryPolicy | None
    transport: AsyncTransport
    validate_requests: bool
    max_connections: int
    reliability: Reliability | None


class RequestOptions(TypedDict, total=False):
    """Per-call options: they override the client's for this call only.

    ``retry=None`` and ``reliability=None`` turn the client's retries or reliability off for the call.
    """

    timeout: Timeout | float | None
    retry: RetryPolicy | None
    reliability: Reliability | None
    betas: Sequence[str]
    extra_headers: Mapping[str, str]
    extra_body: Mapping[str, Any]


class CountTokensArgs(RequestOptions, total=False):
    """Arguments of ``messages.count_tokens``."""

    model: Required[str]
    messages: Required[Sequence[Any]]
    system: str | Sequence[Any]
    tools: Sequence[Any]
    tool_choice: Mapping[str, Any] | Any
    thinking: Mapping[str, Any] | Any


class MessageCreateArgs(CountTokensArgs, total=False):
    """Arguments of ``messages.create`` and ``messages.stream`` (the API's own field names)."""

    max_tokens: Required[int]
    metadata: Mapping[str, Any] | Any
    stop_sequences: Sequence[str]
    temperature: float
    top_p: float
    top_k: int
    service_tier: str


class BatchRequestParam(TypedDict):
    """One request of a message batch."""

    custom_id: str
    params: Mapping[str, Any]


REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)

"""Salesforce's Models API (Einstein / Agentforce) as an upstream: Claude through ``chat-generations``.

What the public Salesforce material says about the API, and what this provider relies on:

- Endpoint: ``POST {api base}/einstein/platform/v1/models/{modelName}/chat-generations``; the API
  base is ``https://api.salesforce.com``, not the org's instance URL (Salesforce developer guide
  "Access Models API with REST"; the ``sfap_api`` clients of the Salesforce Mobile SDKs).
- Headers: ``Authorization: Bearer <token>``, ``x-sfdc-app-context: EinsteinGPT`` and
  ``x-client-feature-id: ai-platform-models-connected-app`` (both marked required, "reserved for
  future use", in Salesforce's Postman collection), ``Content-Type: application/json;
  charset=utf-8``.
- Body: ``messages`` (``role`` ``system`` | ``user`` | ``assistant``, ``content`` a string),
  ``localization`` (``defaultLocale``, ``inputLocales`` of ``{locale, probability}``,
  ``expectedLocales``) and an optional ``tags`` object. Turns are text only: no tools, no
  images. Sampling settings are not request fields: model hyperparameters are set on a configured
  model in Einstein Studio, whose API name is then used as ``modelName``.
- Answer: ``{"id", "generationDetails": {"generations": [{"id", "role", "content", "timestamp",
  "parameters": {"finish_reason", "refusal", "index", "logprobs"}, "contentQuality":
  {"scanToxicity": {"isDetected", "categories": [{"categoryName", "score"}]}}}], "parameters":
  {"created", "model", "object", "system_fingerprint", "usage": {"prompt_tokens",
  "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"}}}}``
  (the Mobile SDKs' response models). It is one JSON answer: the endpoint does not stream.
- Errors: a JSON object ``{"errorCode", "messageCode", "message"}`` with statuses 400, 401, 403,
  423 (server busy), 429, 500 and 503 (see ``_salesforce_errors``). Past the rate limit (per org,
  per endpoint, per minute: Salesforce's "Rate Limits for Models API") the API answers 429 with
  such an object; a ``Retry-After`` header is not promised.
- Tokens: the OAuth 2.0 client-credentials flow of an external client app with the ``sfap_api``
  scope and JWT-based access tokens: ``POST https://<My Domain>.my.salesforce.com/services/oauth2/token``
  with the form ``grant_type=client_credentials&client_id=…&client_secret=…``. The answer holds
  ``access_token`` (a JWT; ``token_format: "jwt"``), ``signature``, ``scope``, ``instance_url``,
  ``id``, ``token_type: "Bearer"``, ``issued_at`` (milliseconds since the epoch, as a string) and
  ``api_instance_url`` (the API base); no ``expires_in``. A refusal is HTTP 400 with
  ``{"error", "error_description"}`` (``invalid_client_id``, ``invalid_client``, ``invalid_grant``).
- Model names: ``sfdc_ai__<configuration><provider><model>``; Salesforce's Claude models on
  Amazon Bedrock are ``sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet``, ``…Claude45Haiku``,
  ``…Claude45Opus``, ``…Claude4Sonnet``, ``…Claude46Sonnet``, ``…Claude46Opus``,
  ``…Claude37Sonnet``, ``…Claude3Haiku`` (Salesforce's "Supported Models" list).

How the provider behaves: the canonical ``model`` goes through ``model_map`` (``DEFAULT_MODEL_MAP``
plus the caller's entries; other names are sent as they are). Tokens are cached and renewed (see
``_salesforce_auth``); a 401, or a 404 answered to a token fetched before this request (the API
answers 404 to some invalid tokens), drops the token and the request is sent once more with a new
one. A 429 or 423 is retried, ``max_attempts`` attempts in all: after the upstream's
``Retry-After`` when it sends one no longer than ``max_retry_wait`` (a longer one is raised at
once, for the caller to wait or go elsewhere), else after ``backoff·2ⁿ`` seconds plus up to
``jitter`` (1 s, then 2 s). The gateway builds a provider with ``max_attempts=1`` when its route
has other deployments, so that a rate limit fails over at once instead of waiting. Then the error
is raised: ``RateLimitError`` with the upstream's ``retry-after`` for a 429, ``OverloadedError``
(529) for a 423. An answer without token counts gets estimated ones (one token per three bytes of
the request and of the answer), logged as a warning and marked by ``x-usage-estimate: true`` on
the response's headers. A streamed request is answered by one JSON call replayed as stream events.
``x-sim-fault`` / ``x-sim-latency`` request headers are forwarded, so the simulator's Salesforce
mode can inject faults.

>>> provider = SalesforceProvider(
...     token_url="https://example.my.salesforce.com/services/oauth2/token",
...     api_base_url=None,
...     client_id="3MVG9...",
...     client_secret=ApiKey("<consumer secret>"),
...     transport=AiohttpTransport(),
... )
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from claudegate._version import __version__
from claudegate.client import ApiKey, AsyncTransport, Request, Response, RetryPolicy, Timeout
from claudegate.errors import APIConnectionError, StreamProtocolError, UserError
from claudegate.providers._base import Provider, ProviderRequest, ProviderResponse, ProviderStream
from claudegate.providers._salesforce_auth import AccessToken, TokenSource
from claudegate.providers._salesforce_chat import (
    DEFAULT_MODEL_MAP,
    chat_generations_body,
    chat_generations_to_message,
    salesforce_model_name,
)
from claudegate.providers._salesforce_errors import BUSY_STATUSES, status_error
from claudegate.providers._salesforce_usage import usage_of
from claudegate.sse import message_to_events

__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MODEL_MAP",
    "USAGE_ESTIMATE_HEADER",
    "SalesforceProvider",
]

DEFAULT_API_BASE_URL = "https://api.salesforce.com"
"""Where the Models API is served when neither the config nor the token answer names a base."""
_FORWARDED = ("x-sim-fault", "x-sim-latency")
DEFAULT_MAX_ATTEMPTS = 3
"""Attempts at one request under 429 / 423 answers, the first included."""
USAGE_ESTIMATE_HEADER = "x-usage-estimate"
"""Set (``true``) on a response whose token counts the upstream did not report."""

log = logging.getLogger("claudegate.providers.salesforce")


def _check_url(value: str, field: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise UserError(f"{field} must start with http:// or https://, not {value!r}", field=field)
    return value.rstrip("/")


class SalesforceProvider(Provider):
    """Salesforce's Models API: Claude (and the other models Salesforce hosts) by API name.

    ``token_url`` is the org's ``/services/oauth2/token``; ``api_base_url`` (None: the token
    answer's ``api_instance_url``) the Models API host. The keyword options tune what the module
    docstring describes; ``sleep``, ``clock`` and ``random_fraction`` (jitter's source) are for tests.
    """

    kind = "salesforce"

    def __init__(
        self,
        *,
        token_url: str,
        api_base_url: str | None,
        client_id: str,
        client_secret: ApiKey | str,
        transport: AsyncTransport,
        timeout: Timeout | None = None,
        model_map: Mapping[str, str] | None = None,
        locale: str = "en_US",
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = 1.0,
        jitter: float = 0.25,
        max_retry_wait: float = 20.0,
        token_ttl: float = 1800.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise UserError("max_attempts must be at least 1", field="max_attempts")
        secret = client_secret if isinstance(client_secret, ApiKey) else ApiKey(client_secret)
        self._timeout = timeout or Timeout()
        self.api_base_url = _check_url(api_base_url, "api_base_url") if api_base_url else None
        self.model_map: dict[str, str] = {**DEFAULT_MODEL_MAP, **(model_map or {})}
        self._tokens = TokenSource(
            token_url=_check_url(token_url, "token_url"),
            client_id=client_id,
            client_secret=secret,
            transport=transport,
            timeout=self._timeout,
            token_ttl=token_ttl,
            clock=clock,
        )
        self._transport = transport
        self._locale = locale
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._jitter = jitter
        self._retry_after = RetryPolicy(max_retry_after=max_retry_wait)
        self._sleep = sleep
        self._random_fraction = random_fraction

    def __repr__(self) -> str:
        tokens = self._tokens
        return (
            f"SalesforceProvider(token_url={tokens.token_url!r}, api_base_url={self.api_base_url!r}, "
            f"client_id={tokens.client_id!r}, client_secret=ApiKey('**********'))"
        )

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        message, headers = await self._generate(request)
        return ProviderResponse(message=message, headers=headers)

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        message, headers = await self._generate(request)
        return _ReplayedStream(message_to_events(message), headers)

    async def _generate(self, request: ProviderRequest) -> tuple[dict[str, Any], Mapping[str, str]]:
        body = request.body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise UserError("model: a model name is required", field="model")
        # Refuse what cannot be carried before any token is fetched or request sent.
        content = orjson.dumps(chat_generations_body(body, locale=self._locale))
        path = f"/einstein/platform/v1/models/{quote(salesforce_model_name(model, self.model_map), safe='')}"
        response = await self._send(path + "/chat-generations", content, request)
        raw = await response.aread()
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StreamProtocolError(
                f"the Salesforce API answered {response.status_code} with a body that is not JSON: "
                f"{raw[:200]!r}"
            ) from None
        stops = body.get("stop_sequences") or ()
        usage, estimated = usage_of(answer, request_bytes=len(content))
        message = chat_generations_to_message(answer, model=model, usage=usage, stop_sequences=stops)
        if not estimated:
            return message, response.headers
        log.warning(
            "the Salesforce answer for %s reported no %s; recorded an estimate instead",
            model,
            " or ".join(estimated),
        )
        return message, {**response.headers, USAGE_ESTIMATE_HEADER: "true"}

    def _headers(self, token: AccessToken, request: ProviderRequest) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {token.value}",
            "content-type": "application/json;charset=utf-8",
            "accept": "application/json",
            "x-sfdc-app-context": "EinsteinGPT",
            "x-client-feature-id": "ai-platform-models-connected-app",
            "user-agent": f"claudegate/{__version__}",
        }
        for name in _FORWARDED:
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value
        return headers

    def _busy_wait(self, retry: int, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before retry ``retry`` after a 429/423, or None to give up now."""
        if "retry-after" in headers or "retry-after-ms" in headers:
            # Within the bound: wait as told. Past it (or unreadable): no use waiting here.
            return self._retry_after.retry_after(headers)
        return self._backoff * 2.0**retry + self._jitter * self._random_fraction()

    async def _send(self, path: str, content: bytes, request: ProviderRequest) -> Response:
        """POST with a valid token: once more with a new token after a 401 (or a 404 to an older
        token), waits and retries on 429 and 423."""
        attempts = busy = 0
        refreshed = False
        known = self._tokens.fetched  # tokens fetched from here on are newer than this request
        while True:
            token = await self._tokens.get()
            base = self.api_base_url or token.api_instance_url or DEFAULT_API_BASE_URL
            upstream = Request(
                "POST", base.rstrip("/") + path, self._headers(token, request), content, self._timeout
            )
            try:
                response = await self._transport.handle(upstream)
            except APIConnectionError as exc:
                exc.attempts = attempts + 1
                raise
            attempts += 1
            status = response.status_code
            if status < 400:
                return response
            error = await status_error(response, attempts)
            stale = status == 401 or (status == 404 and token.serial <= known)
            if stale and not refreshed:
                refreshed = True
                self._tokens.invalidate(token)
                continue
            if status in BUSY_STATUSES and busy + 1 < self._max_attempts:
                wait = self._busy_wait(busy, error.headers)
                if wait is not None:
                    await self._sleep(wait)
                    busy += 1
                    continue
            raise error


class _ReplayedStream(ProviderStream):
    """A whole answer replayed as the stream events that would have produced it."""

    def __init__(self, events: list[dict[str, Any]], headers: Mapping[str, str]) -> None:
        self._events = events
        self.headers = headers

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        for event in self._events:
            yield event

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        # Everything is here already: one batch, so a surface answers with one write.
        if self._events:
            yield list(self._events)

    async def aclose(self) -> None:
        self._events = []

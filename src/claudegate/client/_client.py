"""The async client: configuration, headers, and one request path with explicit retries.

When a ``Reliability`` is in effect (for the client or the call), ``send`` hands the request to
it, and it calls back into the retry loop for each endpoint it picks.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, TypeVar, Unpack
from urllib.parse import urlencode

import orjson
from pydantic import ValidationError

from claudegate._version import __version__
from claudegate.client._curl import to_curl
from claudegate.client._mock import MockTransport
from claudegate.client._params import ClientOptions, RequestOptions
from claudegate.client._pipeline import Reliability
from claudegate.client._retry import RetryPolicy
from claudegate.client._secrets import ApiKey, check_anthropic_key, resolve_api_key
from claudegate.client._timeouts import Timeout
from claudegate.client._transport import AiohttpTransport, AsyncTransport, Request, Response
from claudegate.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    UserError,
    error_from_envelope,
)

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

log = logging.getLogger("claudegate.client")
T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"
UNSET: Any = object()
"""Marks an option the caller did not give (None is a value: e.g. ``retry=None`` means no retry)."""


def parse_body(parse: Callable[[Any], T], data: Any, request_id: str | None = None) -> T:
    """Build a typed model from a decoded answer, as a tree error when it does not fit."""
    try:
        return parse(data)
    except ValidationError as exc:
        raise APIResponseValidationError(
            f"the answer does not fit the expected shape: {exc.error_count()} problem(s), first at "
            f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}: {exc.errors()[0]['msg']}",
            body=data,
            request_id=request_id,
        ) from exc


def _json_default(value: Any) -> Any:
    """Serialise what orjson does not know: wire models (``to_dict``) and other mappings."""
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class AsyncClient:
    """Async client for the Claude API.

    >>> async with AsyncClient() as client:       # key from ANTHROPIC_API_KEY
    ...     message = await client.messages.create(
    ...         model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "Hi"}]
    ...     )
    ...     print(message.content[0].text)

    Nothing happens that was not asked for: no retry unless ``retry=RetryPolicy()`` is given (to
    the client, or to one call). See ``ClientOptions`` for every option.
    """

    def __init__(self, **options: Unpack[ClientOptions]) -> None:
        key = resolve_api_key(options.get("api_key"))
        if key is None:
            raise UserError(
                "no API key: pass api_key=..., set ANTHROPIC_API_KEY, or put ANTHROPIC_API_KEY=... in "
                "secret/-secrets.sh",
                field="api_key",
            )
        self._api_key: ApiKey = key
        base_url = options.get("base_url") or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise UserError(
                f"base_url must start with http:// or https://, not {base_url!r}", field="base_url"
            )
        self.base_url = base_url.rstrip("/")
        transport = options.get("transport")
        # A MockTransport sends nothing anywhere: tests may use any placeholder key.
        if options.get("check_key_format", True) and not isinstance(transport, MockTransport):
            check_anthropic_key(key, self.base_url)
        self.auth = options.get("auth", "x-api-key")
        if self.auth not in ("x-api-key", "bearer"):
            raise UserError("auth must be 'x-api-key' or 'bearer'", field="auth")
        self.timeout = Timeout.coerce(options.get("timeout", Timeout()))
        self.retry: RetryPolicy = options.get("retry") or RetryPolicy.none()
        self.validate_requests = options.get("validate_requests", True)
        self.reliability: Reliability | None = options.get("reliability")
        self._transport: AsyncTransport = transport or AiohttpTransport(
            max_connections=options.get("max_connections", 1000)
        )
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "user-agent": f"claudegate/{__version__}",
            "anthropic-version": options.get("anthropic_version", DEFAULT_ANTHROPIC_VERSION),
        }
        betas = options.get("betas")
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        headers.update({k.lower(): v for k, v in (options.get("default_headers") or {}).items()})
        if self.auth == "bearer":
            headers["authorization"] = f"Bearer {self._api_key.reveal('authorization header')}"
        else:
            headers["x-api-key"] = self._api_key.reveal("x-api-key header")
        self._headers = headers

        from claudegate.client._resources import AsyncMessages, AsyncModels

        self.messages = AsyncMessages(self)
        self.models = AsyncModels(self)

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r}, auth={self.auth!r}, api_key={self._api_key!r})"

    @property
    def api_key(self) -> ApiKey:
        """The key in use, as a secret (``.reveal()`` gives the string)."""
        return self._api_key

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()

    def build_request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        stream: bool = False,
        options: RequestOptions | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Request:
        """The exact request a call would send (key included in headers: see ``to_curl``)."""
        opts: RequestOptions = options or {}
        headers = dict(self._headers)
        betas: Sequence[str] | None = opts.get("betas")
        if betas:
            existing = headers.get("anthropic-beta")
            headers["anthropic-beta"] = ",".join([*([existing] if existing else []), *betas])
        extra_headers = opts.get("extra_headers")
        if extra_headers:
            headers.update({k.lower(): v for k, v in extra_headers.items()})
        if stream:
            headers["accept"] = "text/event-stream"
        content: bytes | None
        if body is None:
            content = None
            headers.pop("content-type", None)
        elif isinstance(body, bytes):
            content = body
        else:
            extra_body = opts.get("extra_body")
            content = orjson.dumps({**body, **extra_body} if extra_body else body, default=_json_default)
        url = self.base_url + path
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urlencode(pairs)
        timeout = Timeout.coerce(opts["timeout"]) if "timeout" in opts else self.timeout
        return Request(method, url, headers, content, timeout, stream)

    def to_curl(self, request: Request) -> str:
        """The request as a ``curl`` command with the key redacted."""
        return to_curl(request)

    def reliability_for(self, options: RequestOptions | None) -> Reliability | None:
        """The ``Reliability`` a call with these options goes through (None: none)."""
        opts: RequestOptions = options or {}
        return opts["reliability"] if "reliability" in opts else self.reliability

    async def send(
        self,
        request: Request,
        *,
        retry: RetryPolicy | None = UNSET,
        reliability: Reliability | None = UNSET,
    ) -> Response:
        """Send with the retry policy; return a 2xx response whose body has not been read.

        Raises ``APIStatusError`` subclasses for error statuses and ``APIConnectionError`` /
        ``APITimeoutError`` when no answer came, with ``attempts`` set to the attempts made.
        With a ``Reliability`` (the client's unless given), its stages run around the retries.
        """
        policy: RetryPolicy = self.retry if retry is UNSET else (retry or RetryPolicy.none())
        pipeline = self.reliability if reliability is UNSET else reliability
        if pipeline is not None:
            return await pipeline.send(
                request, partial(self._send_with_retry, policy=policy), base_url=self.base_url
            )
        return await self._send_with_retry(request, policy=policy)

    async def _send_with_retry(self, request: Request, *, policy: RetryPolicy) -> Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._transport.handle(request)
            except APIConnectionError as exc:
                exc.attempts = attempt
                if attempt <= policy.max_retries and policy.retry_connection_errors:
                    await self._sleep_before_retry(policy, attempt, request, None, type(exc).__name__)
                    continue
                raise
            if response.status_code < 400:
                response.attempts = attempt
                return response
            error = await self._status_error(response, attempt)
            if attempt <= policy.max_retries and policy.should_retry_status(
                response.status_code, response.headers
            ):
                await self._sleep_before_retry(
                    policy,
                    attempt,
                    request,
                    response.headers,
                    f"{error.status_code} {error.type or ''}".strip(),
                )
                continue
            raise error

    async def _sleep_before_retry(
        self,
        policy: RetryPolicy,
        attempt: int,
        request: Request,
        headers: Mapping[str, str] | None,
        reason: str,
    ) -> None:
        delay = policy.delay(attempt - 1, headers)
        log.info(
            "retrying %s %s in %.3f s (attempt %d of %d) after %s",
            request.method,
            request.url,
            delay,
            attempt + 1,
            policy.max_retries + 1,
            reason,
        )
        await asyncio.sleep(delay)

    @staticmethod
    async def _status_error(response: Response, attempt: int) -> APIStatusError:
        try:
            raw = await response.aread()
        except APIConnectionError:
            raw = b""
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", errors="replace")
        return error_from_envelope(
            response.status_code,
            body,
            request_id=response.request_id,
            headers=dict(response.headers),
            attempts=attempt,
        )

    async def request_json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        options: RequestOptions | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request and decode its JSON answer."""
        request = self.build_request(method, path, body, options=options, query=query)
        opts: RequestOptions = options or {}
        response = await self.send(
            request, retry=opts.get("retry", UNSET), reliability=opts.get("reliability", UNSET)
        )
        raw = await response.aread()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise APIStatusError(
                f"the API answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
                body=raw[:1000].decode("utf-8", errors="replace"),
                request_id=response.request_id,
            ) from exc

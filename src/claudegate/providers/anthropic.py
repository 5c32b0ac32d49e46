"""The Anthropic provider: requests and answers pass through as bytes.

The client's request bytes go upstream unchanged when nothing needs rewriting; the upstream's
JSON body and SSE bytes come back unchanged. Only the headers the API defines are forwarded
(``anthropic-version``, ``anthropic-beta``), with this deployment's key.
"""

from __future__ import annotations

import orjson

from claudegate.client import ApiKey, AsyncClient, AsyncTransport, Response, RetryPolicy, Timeout
from claudegate.errors import InternalServerError
from claudegate.providers._base import (
    NativeStream,
    Provider,
    ProviderRequest,
    ProviderResponse,
    ProviderStream,
)

__all__ = ["AnthropicProvider"]


class AnthropicProvider(Provider):
    """An Anthropic Messages API upstream (the real API, or anything that speaks it)."""

    kind = "anthropic"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: ApiKey | str,
        transport: AsyncTransport,
        timeout: Timeout | None = None,
        auth: str = "x-api-key",
    ) -> None:
        self._client = AsyncClient(
            api_key=api_key,
            base_url=base_url,
            transport=transport,
            timeout=timeout or Timeout(),
            auth="bearer" if auth == "bearer" else "x-api-key",
            validate_requests=False,
        )
        self.base_url = self._client.base_url

    @property
    def client(self) -> AsyncClient:
        """The client of this upstream (its key, transport and timeouts), for the API's other
        endpoints (the gateway hands Message Batches to it)."""
        return self._client

    def _path(self, path: str, request: ProviderRequest) -> str:
        return f"{path}?{request.query}" if request.query else path

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        upstream = self._client.build_request(
            "POST",
            self._path("/v1/messages", request),
            request.content(),
            options={"extra_headers": request.headers},
        )
        response = await self._client.send(upstream, retry=RetryPolicy.none())
        return ProviderResponse(raw=await response.aread(), headers=response.headers)

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        upstream = self._client.build_request(
            "POST",
            self._path("/v1/messages", request),
            request.content(),
            stream=True,
            options={"extra_headers": request.headers},
        )
        response = await self._client.send(upstream, retry=RetryPolicy.none())
        content_type = response.headers.get("content-type", "")
        if not content_type.lower().startswith("text/event-stream"):
            # Relaying it would hand the client a body that is not the stream it asked for.
            await response.aclose()
            message = f"the upstream answered a stream request with content-type {content_type[:100]!r}"
            envelope = {"type": "error", "error": {"type": "api_error", "message": message}}
            raise InternalServerError(
                message, status_code=502, type="api_error", body=envelope, request_id=response.request_id
            )
        return _ResponseStream(response)

    async def count_tokens(self, request: ProviderRequest) -> int | None:
        upstream = self._client.build_request(
            "POST",
            self._path("/v1/messages/count_tokens", request),
            request.content(),
            options={"extra_headers": request.headers},
        )
        response = await self._client.send(upstream, retry=RetryPolicy.none())
        count = orjson.loads(await response.aread()).get("input_tokens")
        return count if isinstance(count, int) else None


class _ResponseStream(NativeStream):
    def __init__(self, response: Response) -> None:
        self._response = response
        super().__init__(response.aiter_bytes(), response.headers)

    async def aclose(self) -> None:
        await super().aclose()
        await self._response.aclose()

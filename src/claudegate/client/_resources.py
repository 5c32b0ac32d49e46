"""API resources: ``messages`` (with ``batches``) and ``models``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Unpack, cast
from urllib.parse import quote

import orjson

from claudegate.client._client import UNSET as _UNSET
from claudegate.client._client import parse_body
from claudegate.client._curl import to_curl
from claudegate.client._observers import StreamObserver
from claudegate.client._pagination import AsyncPaginator
from claudegate.client._params import (
    REQUEST_OPTION_KEYS,
    BatchRequestParam,
    CountTokensArgs,
    MessageCreateArgs,
    RequestOptions,
)
from claudegate.client._streaming import AsyncMessageStream, AsyncMessageStreamManager
from claudegate.client._transport import Response
from claudegate.client._validation import validate_count_tokens_request, validate_message_request
from claudegate.errors import UserError
from claudegate.types import (
    BatchResult,
    Message,
    MessageBatch,
    MessageTokensCount,
    ModelInfo,
    parse_message,
)

if TYPE_CHECKING:
    from claudegate.client._client import AsyncClient

__all__ = ["AsyncBatches", "AsyncMessages", "AsyncModels", "BatchResults"]


def split_args(args: Mapping[str, Any]) -> tuple[dict[str, Any], RequestOptions]:
    """Separate the request body from the per-call options."""
    body: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in args.items():
        if key in REQUEST_OPTION_KEYS:
            options[key] = value
        else:
            body[key] = value
    return body, cast(RequestOptions, options)


def _segment(value: str) -> str:
    """An id made safe as one URL path segment."""
    return quote(value, safe="")


def _page_fetcher(
    client: AsyncClient, path: str, limit: int | None, options: RequestOptions
) -> Callable[[str | None], Awaitable[dict[str, Any]]]:
    async def fetch(after_id: str | None) -> dict[str, Any]:
        query = {"limit": limit, "after_id": after_id}
        data: dict[str, Any] = await client.request_json("GET", path, options=options, query=query)
        return data

    return fetch


class AsyncMessages:
    """``client.messages``: create, stream, count_tokens, and ``batches``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.batches = AsyncBatches(client)

    def _body(self, args: Mapping[str, Any], *, stream: bool) -> tuple[dict[str, Any], RequestOptions]:
        body, options = split_args(args)
        if "stream" in body:
            raise UserError("use messages.stream() for streaming, not stream=True", field="stream")
        if self._client.validate_requests:
            validate_message_request(body)
        if stream:
            body["stream"] = True
        return body, options

    async def create(self, **args: Unpack[MessageCreateArgs]) -> Message:
        """Send a message and return the model's reply.

        >>> message = await client.messages.create(
        ...     model="claude-sonnet-4-5", max_tokens=512, messages=[{"role": "user", "content": "Hi"}]
        ... )
        """
        body, options = self._body(args, stream=False)
        data = await self._client.request_json("POST", "/v1/messages", body, options=options)
        return parse_body(parse_message, data)

    def stream(
        self, *, observers: Sequence[StreamObserver] = (), **args: Unpack[MessageCreateArgs]
    ) -> AsyncMessageStreamManager:
        """Stream a message: ``async with client.messages.stream(...) as stream``.

        Retries (when a policy is set) happen only before the stream's first byte; so do the
        stages of a ``Reliability``, and its quota records the stream's final usage.
        """
        body, options = self._body(args, stream=True)
        client = self._client

        async def open_stream() -> AsyncMessageStream:
            request = client.build_request("POST", "/v1/messages", body, stream=True, options=options)
            reliability = client.reliability_for(options)
            response = await client.send(request, retry=options.get("retry", _UNSET), reliability=reliability)
            on_usage = reliability.usage_recorder(request) if reliability is not None else None
            return AsyncMessageStream(response, observers, on_usage=on_usage)

        return AsyncMessageStreamManager(open_stream)

    async def count_tokens(self, **args: Unpack[CountTokensArgs]) -> MessageTokensCount:
        """Count the input tokens of a request without sending it to the model."""
        body, options = split_args(args)
        if self._client.validate_requests:
            validate_count_tokens_request(body)
        data = await self._client.request_json("POST", "/v1/messages/count_tokens", body, options=options)
        return parse_body(MessageTokensCount.model_validate, data)

    def to_curl(self, **args: Unpack[MessageCreateArgs]) -> str:
        """The ``curl`` command ``create`` would run (the key as ``$ANTHROPIC_API_KEY``)."""
        body, options = self._body(args, stream=False)
        return to_curl(self._client.build_request("POST", "/v1/messages", body, options=options))


class AsyncModels:
    """``client.models``: list (auto-paginating) and retrieve."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def list(
        self, *, limit: int | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncPaginator[ModelInfo]:
        """Every available model, newest first, fetched page by page as you iterate."""
        client = self._client

        async def fetch(after_id: str | None) -> dict[str, Any]:
            query = {"limit": limit, "after_id": after_id}
            data: dict[str, Any] = await client.request_json(
                "GET", "/v1/models", options=options, query=query
            )
            return data

        return AsyncPaginator(fetch, ModelInfo.model_validate)

    async def retrieve(self, model_id: str, **options: Unpack[RequestOptions]) -> ModelInfo:
        """One model by id or alias."""
        if not model_id:
            raise UserError("model_id must not be empty", field="model_id")
        data = await self._client.request_json("GET", f"/v1/models/{_segment(model_id)}", options=options)
        return parse_body(ModelInfo.model_validate, data)


class AsyncBatches:
    """``client.messages.batches``: create, retrieve, list, cancel, delete, results."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self, *, requests: Sequence[BatchRequestParam], **options: Unpack[RequestOptions]
    ) -> MessageBatch:
        """Submit many requests to run asynchronously (each validated first)."""
        if not requests:
            raise UserError("a batch needs at least one request", field="requests")
        items = []
        seen: set[str] = set()
        for i, item in enumerate(requests):
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id:
                raise UserError(f"requests[{i}].custom_id: required", field=f"requests[{i}].custom_id")
            if custom_id in seen:
                raise UserError(
                    f"requests[{i}].custom_id: duplicate {custom_id!r}", field=f"requests[{i}].custom_id"
                )
            seen.add(custom_id)
            params = dict(item.get("params") or {})
            if self._client.validate_requests:
                try:
                    validate_message_request(params)
                except UserError as exc:
                    field = f"requests[{i}].params.{exc.field}"
                    raise UserError(f"{field}: {exc.message.split(': ', 1)[-1]}", field=field) from exc
            items.append({"custom_id": custom_id, "params": params})
        data = await self._client.request_json(
            "POST", "/v1/messages/batches", {"requests": items}, options=options
        )
        return parse_body(MessageBatch.model_validate, data)

    async def retrieve(self, batch_id: str, **options: Unpack[RequestOptions]) -> MessageBatch:
        """The batch's current state."""
        data = await self._client.request_json(
            "GET", f"/v1/messages/batches/{_segment(batch_id)}", options=options
        )
        return parse_body(MessageBatch.model_validate, data)

    def list(
        self, *, limit: int | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncPaginator[MessageBatch]:
        """Every batch, page by page as you iterate."""
        fetch = _page_fetcher(self._client, "/v1/messages/batches", limit, options)
        return AsyncPaginator(fetch, partial(parse_body, MessageBatch.model_validate))

    async def cancel(self, batch_id: str, **options: Unpack[RequestOptions]) -> MessageBatch:
        """Ask the batch to stop; requests not yet run end as ``canceled``."""
        data = await self._client.request_json(
            "POST", f"/v1/messages/batches/{_segment(batch_id)}/cancel", options=options
        )
        return parse_body(MessageBatch.model_validate, data)

    async def delete(self, batch_id: str, **options: Unpack[RequestOptions]) -> dict[str, Any]:
        """Delete an ended batch."""
        data: dict[str, Any] = await self._client.request_json(
            "DELETE", f"/v1/messages/batches/{_segment(batch_id)}", options=options
        )
        return data

    async def results(self, batch_id: str, **options: Unpack[RequestOptions]) -> BatchResults:
        """Each request's result as the JSONL body streams in (in any order).

        >>> async with await client.messages.batches.results(batch.id) as results:
        ...     async for item in results: ...
        """
        client = self._client
        request = client.build_request(
            "GET", f"/v1/messages/batches/{_segment(batch_id)}/results", stream=True, options=options
        )
        request.headers["accept"] = "application/binary"
        response = await client.send(
            request, retry=options.get("retry", _UNSET), reliability=client.reliability_for(options)
        )
        return BatchResults(response)


class BatchResults:
    """Batch results read line by line from the response; closing it releases the connection."""

    def __init__(self, response: Response) -> None:
        self._response = response
        self._lines = self._read()

    async def _read(self) -> AsyncGenerator[BatchResult, None]:
        pending = b""
        try:
            async for chunk in self._response.aiter_bytes():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    if line.strip():
                        yield parse_body(BatchResult.model_validate, orjson.loads(line))
            if pending.strip():
                yield parse_body(BatchResult.model_validate, orjson.loads(pending))
        finally:
            await self._response.aclose()

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        return self._lines

    async def __anext__(self) -> BatchResult:
        return await self._lines.__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the connection (also when nothing was read)."""
        await self._lines.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> BatchResults:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

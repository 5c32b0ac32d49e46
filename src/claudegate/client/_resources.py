"""API resources: ``messages`` (with ``batches``) and ``models``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack, cast

import orjson

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

__all__ = ["AsyncBatches", "AsyncMessages", "AsyncModels"]


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from models (``to_dict``), mappings and sequences, leaving the rest as is."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    if isinstance(value, Mapping):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def split_args(args: Mapping[str, Any]) -> tuple[dict[str, Any], RequestOptions]:
    """Separate the request body from the per-call options."""
    body: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in args.items():
        if key in REQUEST_OPTION_KEYS:
            options[key] = value
        else:
            body[key] = to_jsonable(value)
    return body, cast(RequestOptions, options)


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
        return parse_message(data)

    def stream(
        self, *, observers: Sequence[StreamObserver] = (), **args: Unpack[MessageCreateArgs]
    ) -> AsyncMessageStreamManager:
        """Stream a message: ``async with client.messages.stream(...) as stream``.

        Retries (when a policy is set) happen only before the stream's first byte.
        """
        body, options = self._body(args, stream=True)
        client = self._client

        async def open_stream() -> AsyncMessageStream:
            request = client.build_request("POST", "/v1/messages", body, stream=True, options=options)
            retry = options.get("retry", client.retry)
            response = await client.send(request, retry=retry)
            return AsyncMessageStream(response, observers)

        return AsyncMessageStreamManager(open_stream)

    async def count_tokens(self, **args: Unpack[CountTokensArgs]) -> MessageTokensCount:
        """Count the input tokens of a request without sending it to the model."""
        body, options = split_args(args)
        if self._client.validate_requests:
            validate_count_tokens_request(body)
        data = await self._client.request_json("POST", "/v1/messages/count_tokens", body, options=options)
        return MessageTokensCount.model_validate(data)

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
        data = await self._client.request_json("GET", f"/v1/models/{model_id}", options=options)
        return ModelInfo.model_validate(data)


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
            params = to_jsonable(dict(item.get("params") or {}))
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
        return MessageBatch.model_validate(data)

    async def retrieve(self, batch_id: str, **options: Unpack[RequestOptions]) -> MessageBatch:
        """The batch's current state."""
        data = await self._client.request_json("GET", f"/v1/messages/batches/{batch_id}", options=options)
        return MessageBatch.model_validate(data)

    def list(
        self, *, limit: int | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncPaginator[MessageBatch]:
        """Every batch, page by page as you iterate."""
        client = self._client

        async def fetch(after_id: str | None) -> dict[str, Any]:
            query = {"limit": limit, "after_id": after_id}
            data: dict[str, Any] = await client.request_json(
                "GET", "/v1/messages/batches", options=options, query=query
            )
            return data

        return AsyncPaginator(fetch, MessageBatch.model_validate)

    async def cancel(self, batch_id: str, **options: Unpack[RequestOptions]) -> MessageBatch:
        """Ask the batch to stop; requests not yet run end as ``canceled``."""
        data = await self._client.request_json(
            "POST", f"/v1/messages/batches/{batch_id}/cancel", options=options
        )
        return MessageBatch.model_validate(data)

    async def delete(self, batch_id: str, **options: Unpack[RequestOptions]) -> dict[str, Any]:
        """Delete an ended batch."""
        data: dict[str, Any] = await self._client.request_json(
            "DELETE", f"/v1/messages/batches/{batch_id}", options=options
        )
        return data

    async def results(self, batch_id: str, **options: Unpack[RequestOptions]) -> AsyncIterator[BatchResult]:
        """Each request's result as the JSONL body streams in (in any order)."""
        client = self._client
        path = f"/v1/messages/batches/{batch_id}/results"
        request = client.build_request("GET", path, stream=True, options=options)
        request.headers["accept"] = "application/binary"
        response = await client.send(request, retry=options.get("retry", client.retry))

        async def lines() -> AsyncIterator[BatchResult]:
            pending = b""
            try:
                async for chunk in response.aiter_bytes():
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        if line.strip():
                            yield BatchResult.model_validate(orjson.loads(line))
                if pending.strip():
                    yield BatchResult.model_validate(orjson.loads(pending))
            finally:
                await response.aclose()

        return lines()

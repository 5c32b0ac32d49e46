"""The sync client: the async client run on a private loop thread. No logic is written twice:
each sync method forwards to its async twin through ``blocking``."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, Unpack

from claudegate.client._client import AsyncClient
from claudegate.client._observers import StreamObserver
from claudegate.client._pagination import AsyncPaginator, Page
from claudegate.client._params import ClientOptions, MessageCreateArgs, RequestOptions
from claudegate.client._portal import Portal
from claudegate.client._resources import AsyncBatches, AsyncMessages, AsyncModels
from claudegate.client._secrets import ApiKey
from claudegate.client._streaming import AsyncMessageStream, AsyncMessageStreamManager
from claudegate.types import BatchResult, Message, MessageBatch, ModelInfo, StreamEvent

__all__ = ["Batches", "Client", "MessageStream", "Messages", "Models", "Paginator"]

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")
T = TypeVar("T")


class _SyncResource(Generic[A]):
    def __init__(self, async_resource: A, portal: Portal) -> None:
        self._async = async_resource
        self._portal = portal


def blocking(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[_SyncResource[A], P], R]:
    """Turn an async resource method into a sync one that runs on the portal."""

    def call(self: _SyncResource[A], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._portal.call(method(self._async, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class Paginator(Generic[T]):
    """Iterate every item across pages, or fetch one ``page()``."""

    def __init__(self, paginator: AsyncPaginator[T], portal: Portal) -> None:
        self._paginator = paginator
        self._portal = portal

    def page(self, after_id: str | None = None) -> Page[T]:
        return self._portal.call(self._paginator.page(after_id))

    def __iter__(self) -> Iterator[T]:
        return self._portal.iterate(aiter(self._paginator))

    def to_list(self) -> list[T]:
        return list(self)


class MessageStream:
    """A streamed message read from sync code (see ``AsyncMessageStream``)."""

    def __init__(self, stream: AsyncMessageStream, portal: Portal) -> None:
        self._stream = stream
        self._portal = portal

    @property
    def request_id(self) -> str | None:
        return self._stream.request_id

    @property
    def attempts(self) -> int:
        return self._stream.attempts

    def __iter__(self) -> Iterator[StreamEvent]:
        return self._portal.iterate(aiter(self._stream))

    @property
    def text_stream(self) -> Iterator[str]:
        return self._portal.iterate(self._stream.text_stream)

    def until_done(self) -> None:
        self._portal.call(self._stream.until_done())

    def get_final_message(self) -> Message:
        return self._portal.call(self._stream.get_final_message())

    def get_final_text(self) -> str:
        return self._portal.call(self._stream.get_final_text())

    def current_message_snapshot(self) -> dict[str, Any]:
        return self._stream.current_message_snapshot()

    def close(self) -> None:
        self._portal.call(self._stream.close())


class MessageStreamManager:
    """``with client.messages.stream(...) as stream``."""

    def __init__(self, manager: AsyncMessageStreamManager, portal: Portal) -> None:
        self._manager = manager
        self._portal = portal

    def __enter__(self) -> MessageStream:
        return MessageStream(self._portal.call(self._manager.__aenter__()), self._portal)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._portal.call(self._manager.__aexit__(exc_type, exc, tb))


class Batches(_SyncResource[AsyncBatches]):
    """``client.messages.batches`` of the sync client (see ``AsyncBatches``)."""

    create = blocking(AsyncBatches.create)
    retrieve = blocking(AsyncBatches.retrieve)
    cancel = blocking(AsyncBatches.cancel)
    delete = blocking(AsyncBatches.delete)

    def list(self, *, limit: int | None = None, **options: Unpack[RequestOptions]) -> Paginator[MessageBatch]:
        return Paginator(self._async.list(limit=limit, **options), self._portal)

    def results(self, batch_id: str, **options: Unpack[RequestOptions]) -> Iterator[BatchResult]:
        return self._portal.iterate(self._portal.call(self._async.results(batch_id, **options)))


class Messages(_SyncResource[AsyncMessages]):
    """``client.messages`` of the sync client (see ``AsyncMessages``)."""

    create = blocking(AsyncMessages.create)
    count_tokens = blocking(AsyncMessages.count_tokens)

    def __init__(self, async_resource: AsyncMessages, portal: Portal) -> None:
        super().__init__(async_resource, portal)
        self.batches = Batches(async_resource.batches, portal)

    def stream(
        self, *, observers: Sequence[StreamObserver] = (), **args: Unpack[MessageCreateArgs]
    ) -> MessageStreamManager:
        return MessageStreamManager(self._async.stream(observers=observers, **args), self._portal)

    def to_curl(self, **args: Unpack[MessageCreateArgs]) -> str:
        return self._async.to_curl(**args)


class Models(_SyncResource[AsyncModels]):
    """``client.models`` of the sync client (see ``AsyncModels``)."""

    retrieve = blocking(AsyncModels.retrieve)

    def list(self, *, limit: int | None = None, **options: Unpack[RequestOptions]) -> Paginator[ModelInfo]:
        return Paginator(self._async.list(limit=limit, **options), self._portal)


def _shutdown(client: AsyncClient, portal: Portal) -> None:
    try:
        portal.call(client.aclose())
    except Exception:  # a closed portal: nothing left to release
        pass
    finally:
        portal.close()


class Client:
    """Sync client for the Claude API: the same options and calls as ``AsyncClient``.

    >>> with Client() as client:
    ...     message = client.messages.create(
    ...         model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "Hi"}]
    ...     )
    """

    def __init__(self, **options: Unpack[ClientOptions]) -> None:
        self._portal = Portal()
        self._async = AsyncClient(**options)
        self.messages = Messages(self._async.messages, self._portal)
        self.models = Models(self._async.models, self._portal)
        # A client dropped without close() still releases its connections and its loop thread.
        self._finalizer = weakref.finalize(self, _shutdown, self._async, self._portal)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient(", "Client(", 1)

    @property
    def api_key(self) -> ApiKey:
        return self._async.api_key

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def close(self) -> None:
        """Close pooled connections and stop the loop thread (idempotent)."""
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

"""``graphql-transport-ws`` running ``messageStream`` subscriptions directly, and relaying the
events of planned subscriptions itself.

strawberry sends each subscription event through graphql-core's event mapping, its own result
handling (the extensions' per-result hooks, their results gathered again) and its handler (a
message dict, encoded, one ASGI send) — several times the cost of the event itself. For a
subscription ``EventPlan`` can build (see ``_events``) whose schema's extensions do nothing per
result (their hooks are the base ones, and their results are settled before the first event),
this handler writes each ``next`` message from a prefix and suffix encoded once (the operation's
``extensions``, the same for every event) around the event's ``data``; the events of one upstream
read go to the server together: to its writer when it takes them at once (``text_writer``), else in
one ASGI message when it offers ``SEND_TEXTS``.

A ``messageStream`` subscription of the common shape (see ``_direct``) runs here from its start,
past strawberry's operation. Any other planned subscription lets its first result take the normal
path, then has its events read from the source (see ``_relay``); anything else — an event the plan
cannot vouch for, an error of the stream, its end, cancellation — goes the normal way. Either way
every message is what strawberry would have sent, byte for byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.extensions import SchemaExtension
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from claudegate.gateway._websocket_protocol import SEND_TEXTS, text_writer
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._direct import DirectRun, DirectSubscriptions
from claudegate.gateway.surfaces.graphql._protection import Protection
from claudegate.gateway.surfaces.graphql._relay import TAKEOVER, Takeover

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema
    from strawberry.schema.schema import StreamResult

__all__ = ["RelayingTransportWSHandler", "relays_events"]

_SETTLED_RESULTS = (SchemaExtension.get_results, Protection.get_results)
"""``get_results`` of extensions whose results do not change once the operation runs."""


def relays_events(schema: BaseSchema) -> bool:
    """Whether ``schema``'s extensions leave each result of a subscription as it is (no per-result
    hook, results settled before execution): then its events may be relayed."""
    if getattr(schema, "directives", None):
        return False  # strawberry adds its directives extension
    for factory in getattr(schema, "extensions", ()):
        kind = factory.func if isinstance(factory, partial) else factory
        if isinstance(kind, SchemaExtension):
            kind = type(kind)
        if not isinstance(kind, type) or not issubclass(kind, SchemaExtension):
            return False
        if kind.on_stream_result is not SchemaExtension.on_stream_result:
            return False
        if kind.get_results not in _SETTLED_RESULTS:
            return False
    return True


_END = object()
"""What ``_relay`` returns when the source is exhausted."""


class _Failed:
    """What ``_relay`` returns when the source raised."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Unvouched:
    """What ``_relay`` returns for an event the plan does not build."""

    __slots__ = ("event",)

    def __init__(self, event: Any) -> None:
        self.event = event


def _event_follows(event: Any) -> bool:
    return bool(getattr(event, "follows", False))


def _values_follow(values: dict[str, Any]) -> bool:
    return bool(values["follows"])


class RelayingTransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """strawberry's ``graphql-transport-ws`` handler, running ``messageStream`` subscriptions of
    the common shape directly (see ``_direct``) and relaying planned subscriptions' events."""

    async def run_operation(self, operation: Operation[GraphQLContext, None]) -> None:
        direct = self._direct(operation)
        if direct is None:
            await super().run_operation(operation)
            return
        try:  # what strawberry's run_operation does around its result stream
            await self._run_direct(operation, direct)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    def _direct(self, operation: Operation[GraphQLContext, None]) -> DirectRun | None:
        subscriptions = getattr(self.schema, "direct", None)
        if not isinstance(subscriptions, DirectSubscriptions) or not relays_events(self.schema):
            return None
        return subscriptions.prepare(
            self.context, operation.query, operation.variables, operation.operation_name, self.root_value
        )

    async def _run_direct(self, operation: Operation[GraphQLContext, None], run: DirectRun) -> None:
        errors = await run.admit()
        if errors:
            await operation.send_initial_errors(errors)
            return
        async with aclosing(run.events()) as events:
            while True:
                stop = await self._relay(operation, events, run.plan.data_of, _values_follow, run.extensions)
                if isinstance(stop, _Unvouched):
                    await operation.send_next(await run.execute(stop.event))
                    continue
                if isinstance(stop, _Failed):
                    await operation.send_next(run.failed(stop.error))
                return

    async def _send_result_stream(
        self, operation: Operation[GraphQLContext, None], result_source: StreamResult
    ) -> None:
        if not relays_events(self.schema):
            await super()._send_result_stream(operation, result_source)
            return
        takeover = Takeover()
        TAKEOVER.set(takeover)  # this operation's task only
        first = True
        while True:
            try:
                result = await result_source.__anext__()
            except StopAsyncIteration:
                return
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            await operation.send_next(result)
            first = False
            tap = takeover.tap
            if tap is not None and tap.open and not result.errors:
                stop = await self._relay(
                    operation, tap.source, tap.plan.data, _event_follows, result.extensions
                )
                if isinstance(stop, _Unvouched):
                    tap.give_back(stop.event)
                elif isinstance(stop, _Failed):
                    tap.fail(stop.error)
                else:
                    tap.end()

    async def _relay(
        self,
        operation: Operation[GraphQLContext, None],
        source: AsyncIterator[Any],
        data: Callable[[Any], dict[str, Any] | None],
        follows: Callable[[Any], bool],
        extensions: dict[str, Any] | None,
    ) -> _Unvouched | _Failed | object:
        """Send the events read from ``source`` (each ``data``, None: not planned; each sent
        together with the next when it ``follows``) until one must take the normal path: that event
        (``_Unvouched``), the source's error (``_Failed``) or its end (``_END``)."""
        head = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":{"data":'
        tail = b',"extensions":' + orjson.dumps(extensions) + b"}}" if extensions else b"}}"
        texts: list[str] = []
        stop: _Unvouched | _Failed | object
        while True:
            try:
                event = await source.__anext__()
            except StopAsyncIteration:
                stop = _END
                break
            except Exception as error:  # the normal path turns it into the stream's last result
                stop = _Failed(error)
                break
            built = data(event)
            if built is None:
                stop = _Unvouched(event)
                break
            texts.append((head + orjson.dumps(built) + tail).decode())
            if not follows(event):
                await self._send_texts(operation, texts)
                texts = []
        if texts:
            await self._send_texts(operation, texts)
        return stop

    async def _send_texts(self, operation: Operation[GraphQLContext, None], texts: list[str]) -> None:
        """``texts`` as ``next`` messages of ``operation``: handed to the server's writer when it
        takes them at once (written at once when it is the connection's only operation), else one
        ASGI message when the server takes several, else one send each (as ``send_message``
        does)."""
        if operation.completed:
            return
        socket: Any = getattr(self.websocket, "ws", None)
        if (
            socket is not None
            and socket.application_state is WebSocketState.CONNECTED
            and SEND_TEXTS in (socket.scope.get("extensions") or {})
        ):
            write = text_writer(socket.scope)
            if write is not None and write(texts, len(self.operations) < 2):
                return
            try:
                await socket._send({"type": SEND_TEXTS, "texts": texts})
            except OSError:  # as starlette's own send: the client went away
                socket.application_state = WebSocketState.DISCONNECTED
                raise WebSocketDisconnect(code=1006) from None
            return
        for text in texts:
            if socket is not None:
                await socket.send_text(text)
            else:
                await self.websocket.send_json(orjson.loads(text))

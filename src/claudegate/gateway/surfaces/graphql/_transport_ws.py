"""``graphql-transport-ws`` relaying the events of a planned subscription itself.

strawberry sends each subscription event through graphql-core's event mapping, its own result
handling (the extensions' per-result hooks, their results gathered again) and its handler (a
message dict, encoded, one ASGI send) — several times the cost of the event itself. For a
subscription ``EventPlan`` can build (see ``_events``) whose schema's extensions do nothing per
result (their hooks are the base ones, and their results are settled before the first event),
this handler lets the first result take the normal path, then reads the events from the source
(see ``_relay``) and writes each ``next`` message from a prefix and suffix encoded once (the
first result's ``extensions``, the same for every event) around the event's ``data``; the events
of one upstream read go to the server in one ASGI message when it offers ``SEND_TEXTS``. Anything
else — an event the plan cannot vouch for, an error of the stream, its end, cancellation — goes
the normal way, so every message is what strawberry would have sent, byte for byte.
"""

from __future__ import annotations

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

from claudegate.gateway._websocket_protocol import SEND_TEXTS
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._protection import Protection
from claudegate.gateway.surfaces.graphql._relay import TAKEOVER, Takeover, Tap

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


class RelayingTransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """strawberry's ``graphql-transport-ws`` handler, relaying planned subscriptions' events."""

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
                await self._relay(operation, tap, result.extensions)

    async def _relay(
        self, operation: Operation[GraphQLContext, None], tap: Tap, extensions: dict[str, Any] | None
    ) -> None:
        """Send events read from ``tap`` until one must take the normal path (or the stream ends)."""
        head = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":{"data":'
        tail = b',"extensions":' + orjson.dumps(extensions) + b"}}" if extensions else b"}}"
        plan, source = tap.plan, tap.source
        texts: list[str] = []
        while True:
            try:
                event = await source.__anext__()
            except StopAsyncIteration:
                tap.end()
                break
            except Exception as error:  # the normal path turns it into the stream's last result
                tap.fail(error)
                break
            data = plan.data(event)
            if data is None:
                tap.give_back(event)
                break
            texts.append((head + orjson.dumps(data) + tail).decode())
            if not getattr(event, "follows", False):
                await self._send_texts(operation, texts)
                texts = []
        if texts:
            await self._send_texts(operation, texts)

    async def _send_texts(self, operation: Operation[GraphQLContext, None], texts: list[str]) -> None:
        """``texts`` as ``next`` messages of ``operation``: one ASGI message when the server takes
        several, else one send each (as ``send_message`` does)."""
        if operation.completed:
            return
        socket: Any = getattr(self.websocket, "ws", None)
        if (
            socket is not None
            and socket.application_state is WebSocketState.CONNECTED
            and SEND_TEXTS in (socket.scope.get("extensions") or {})
        ):
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

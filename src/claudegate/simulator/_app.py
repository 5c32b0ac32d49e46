"""The simulator as a plain ASGI app: a dict of routes, orjson, no framework on the hot path.

Endpoints: ``POST /v1/messages`` (JSON and SSE; ``?beta=true`` accepted; message threads),
``POST /v1/messages/count_tokens``, ``GET /v1/models`` and ``/v1/models/{id}``,
``/v1/messages/batches`` (create, list, retrieve, cancel, delete, results),
``POST /v1/chat/completions`` and ``POST /v1/embeddings`` (OpenAI dialect), ``HEAD /``,
``OPTIONS`` on any of those paths (the ``Allow``ed methods, no key needed), and the control routes
``GET``/``DELETE /_sim/log``, ``DELETE /_sim/faults`` (restart ``times=N`` counts) and
``DELETE /_sim/cache``. Faults and latency: see ``claudegate.simulator._faults``; faults only
touch ``/v1/`` routes, so a reachability probe (``HEAD /``) never uses up a ``times=N`` count.
Batch work runs in a worker thread, never on the event loop that serves the other requests.

``GET /v1/models`` without an ``anthropic-version`` header (an OpenAI-dialect client) answers with
OpenAI's list shape, each model carrying both dialects' fields.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

from claudegate._json import JSONDepthError, loads_bounded
from claudegate.errors import APIStatusError
from claudegate.simulator._embeddings import embeddings
from claudegate.simulator._engine import Simulator
from claudegate.simulator._errors import api_error, error_envelope
from claudegate.simulator._faults import Fault, Latency, parse_latency
from claudegate.simulator._http import JSON_TYPE, SSE_TYPE, Exchange, Receive, Scope, Send, new_request_id
from claudegate.simulator._openai import chat_completions
from claudegate.simulator._paging import parse_limit
from claudegate.simulator._respond import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    Call,
    json_delay,
    send_error,
    send_json,
    send_stream,
    sse_frame,
)

__all__ = ["SimulatorApp"]

Handler = Callable[[Call], Awaitable[None]]
_logger = logging.getLogger("claudegate.simulator")


class SimulatorApp:
    """The ASGI app around one ``Simulator``; its request log is ``app.simulator.log``."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.config = simulator.config
        self._default_latency = Latency(self.config.time_to_first_token, self.config.event_delay)
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/messages"): self._messages,
            ("POST", "/v1/messages/count_tokens"): self._count_tokens,
            ("GET", "/v1/models"): self._list_models,
            ("POST", "/v1/messages/batches"): self._create_batch,
            ("GET", "/v1/messages/batches"): self._list_batches,
            ("POST", CHAT_PATH): self._chat,
            ("POST", EMBEDDINGS_PATH): self._embeddings,
            ("HEAD", "/"): self._root,
            ("GET", "/"): self._root,
        }
        self._batch_routes: dict[tuple[str, str], Handler] = {
            ("GET", ""): self._get_batch,
            ("DELETE", ""): self._delete_batch,
            ("POST", "cancel"): self._cancel_batch,
            ("GET", "results"): self._batch_results,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            exchange = Exchange(scope, receive, send, new_request_id())
            try:
                if exchange.path.startswith("/_sim/"):
                    await self._control(exchange)
                else:
                    await self._serve(exchange)
            finally:
                exchange.close()
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    # -- dispatch --------------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> Handler | None:
        path = path.rstrip("/") or "/"
        handler = self._routes.get((method, path))
        if handler is not None:
            return handler
        if method == "GET" and path.startswith("/v1/models/"):
            return self._get_model
        if path.startswith("/v1/messages/batches/"):
            parts = path[len("/v1/messages/batches/") :].split("/")
            if len(parts) <= 2:
                return self._batch_routes.get((method, parts[1] if len(parts) == 2 else ""))
        return None

    def _authorize(self, exchange: Exchange) -> None:
        if not self.config.api_keys or not exchange.path.startswith("/v1/"):
            return
        key = exchange.header(b"x-api-key")
        if key is None:
            bearer = exchange.header(b"authorization") or ""
            key = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
        if key is None:
            raise api_error(401, "authentication_error", "x-api-key header is required")
        if key not in self.config.api_keys:
            raise api_error(401, "authentication_error", "invalid x-api-key")

    def _select_fault(self, exchange: Exchange) -> Fault | None:
        spec = exchange.header(b"x-sim-fault") or self.config.fault
        if not spec or not exchange.path.startswith("/v1/"):
            return None
        try:
            return self.simulator.faults.select(spec)
        except ValueError as exc:
            raise api_error(400, "invalid_request_error", f"x-sim-fault: {exc}") from None

    def _latency(self, exchange: Exchange) -> Latency:
        spec = exchange.header(b"x-sim-latency")
        if spec is None:
            return self._default_latency
        try:
            return parse_latency(spec, self._default_latency)
        except ValueError as exc:
            raise api_error(400, "invalid_request_error", f"x-sim-latency: {exc}") from None

    async def _serve(self, exchange: Exchange) -> None:
        entry = self.simulator.log.start(exchange.method, exchange.path, exchange.request_id)
        call = Call(exchange, entry, self._default_latency)
        try:
            raw = await exchange.body()
            if raw:
                try:
                    call.payload = loads_bounded(raw)
                except JSONDepthError as exc:
                    raise api_error(400, "invalid_request_error", str(exc)) from None
                except orjson.JSONDecodeError:
                    call.payload = raw
                if isinstance(call.payload, dict):
                    entry["model"], entry["stream"] = call.payload.get("model"), call.streaming
                    entry["fields"] = sorted(call.payload)
            if exchange.method == "OPTIONS":
                await self._options(call)
                return
            self._authorize(exchange)
            handler = self._route(exchange.method, exchange.path)
            if handler is None:
                raise api_error(404, "not_found_error", f"Not found: {exchange.method} {exchange.path}")
            call.latency = self._latency(exchange)
            call.fault = self._select_fault(exchange)
            entry["fault"] = call.fault.spec if call.fault is not None else None
            if call.fault is not None and await self._early_fault(call, call.fault):
                return
            if raw and not isinstance(call.payload, dict) and exchange.method == "POST":
                raise api_error(400, "invalid_request_error", "The request body is not valid JSON.")
            await handler(call)
        except APIStatusError as exc:
            await send_error(exchange, entry, exc, call.fault, openai=call.openai)
        except ConnectionResetError:
            raise  # a simulated reset outside uvicorn: the server must drop the connection
        except Exception:
            # A bug must not look like a protocol answer the client could trust: 500 api_error.
            _logger.exception("simulator failed on %s %s", exchange.method, exchange.path)
            error = api_error(500, "api_error", "Internal server error")
            await send_error(exchange, entry, error, openai=call.openai)

    async def _early_fault(self, call: Call, fault: Fault) -> bool:
        """Apply a fault that replaces the whole answer; False when the handler applies it (mid-answer)."""
        exchange = call.exchange
        if fault.kind == "status" or (fault.kind == "error-mid" and not call.streaming):
            error = api_error(fault.status, fault.error_type, fault.message)
            await send_error(exchange, call.entry, error, fault, openai=call.openai)
            return True
        if fault.kind == "reset-before":
            await exchange.reset()
            return True
        if fault.kind == "stall":
            call.entry["status"] = 200
            kind = SSE_TYPE if call.streaming else JSON_TYPE
            await exchange.start(
                200, [(b"content-type", kind), (b"request-id", exchange.request_id.encode())]
            )
            if await exchange.wait_gone(self.config.stall_timeout):
                call.entry["disconnected"] = True
            else:
                await exchange.reset()
            return True
        return False

    # -- Anthropic endpoints ---------------------------------------------------------------------

    async def _messages(self, call: Call) -> None:
        threads = self.simulator.threads
        request, thread = threads.expand(call.payload)
        reply = self.simulator.plan(request)
        cut = call.fault is not None and call.fault.kind in ("reset-mid", "error-mid")
        if thread is not None and not cut:  # kept before the answer goes: the next continue may be quick
            threads.record(request, thread, reply.message())
        if call.streaming:
            await send_stream(call, [sse_frame(event) for event in reply.events()])
            return
        await send_json(call, reply.message(), delay=json_delay(call.latency, reply))

    async def _count_tokens(self, call: Call) -> None:
        await send_json(call, {"input_tokens": self.simulator.count_tokens(call.payload)})

    async def _list_models(self, call: Call) -> None:
        query = call.exchange.query()
        if call.exchange.header(b"anthropic-version") is None and not query:
            await send_json(call, self.simulator.models.openai_page())
            return
        page = self.simulator.models.page(
            after_id=query.get("after_id"),
            before_id=query.get("before_id"),
            limit=parse_limit(query.get("limit")),
        )
        await send_json(call, page)

    async def _get_model(self, call: Call) -> None:
        await send_json(call, self.simulator.models.get(call.exchange.path.rstrip("/")[len("/v1/models/") :]))

    @staticmethod
    def _batch_id(call: Call) -> str:
        return call.exchange.path[len("/v1/messages/batches/") :].split("/")[0]

    # Batch work runs the engine over up to 100,000 requests: in a worker thread, never on the loop.

    async def _create_batch(self, call: Call) -> None:
        batches = self.simulator.batches
        await send_json(call, await asyncio.to_thread(batches.create, call.payload, call.exchange.base_url))

    async def _list_batches(self, call: Call) -> None:
        query = call.exchange.query()
        page = await asyncio.to_thread(
            self.simulator.batches.list,
            after_id=query.get("after_id"),
            before_id=query.get("before_id"),
            limit=parse_limit(query.get("limit")),
            base_url=call.exchange.base_url,
        )
        await send_json(call, page)

    async def _get_batch(self, call: Call) -> None:
        batches = self.simulator.batches
        await send_json(
            call, await asyncio.to_thread(batches.retrieve, self._batch_id(call), call.exchange.base_url)
        )

    async def _cancel_batch(self, call: Call) -> None:
        batches = self.simulator.batches
        await send_json(
            call, await asyncio.to_thread(batches.cancel, self._batch_id(call), call.exchange.base_url)
        )

    async def _delete_batch(self, call: Call) -> None:
        await send_json(call, await asyncio.to_thread(self.simulator.batches.delete, self._batch_id(call)))

    async def _batch_results(self, call: Call) -> None:
        body = await asyncio.to_thread(self.simulator.batches.results, self._batch_id(call))
        call.entry["status"] = 200
        await call.exchange.respond(200, body, [], b"application/x-jsonl")

    async def _chat(self, call: Call) -> None:
        await chat_completions(self.simulator, call)

    async def _embeddings(self, call: Call) -> None:
        await embeddings(call)

    async def _options(self, call: Call) -> None:
        """The methods a path takes, as ``Allow`` (like a preflight, it needs no key and no fault)."""
        path = call.exchange.path
        allowed = [m for m in ("DELETE", "GET", "HEAD", "POST") if self._route(m, path) is not None]
        if not allowed:
            raise api_error(404, "not_found_error", f"Not found: OPTIONS {path}")
        call.entry["status"] = 200
        allow = ", ".join([*allowed, "OPTIONS"]).encode()
        await call.exchange.respond(200, b"", [(b"allow", allow)], b"text/plain; charset=utf-8")

    async def _root(self, call: Call) -> None:
        await send_json(call, {"name": "claudegate simulator", "models": len(self.config.models)})

    # -- control ---------------------------------------------------------------------------------

    async def _control(self, exchange: Exchange) -> None:
        try:
            await exchange.body()
        except APIStatusError as exc:
            envelope = error_envelope(exc.type or "api_error", exc.message, exchange.request_id)
            await exchange.respond_json(exc.status_code, envelope)
            return
        route = (exchange.method, exchange.path.rstrip("/"))
        if route == ("GET", "/_sim/log"):
            await exchange.respond_json(200, {"data": self.simulator.log.entries()})
        elif route == ("DELETE", "/_sim/log"):
            self.simulator.log.clear()
            await exchange.respond_json(200, {"cleared": "log"})
        elif route == ("DELETE", "/_sim/faults"):
            self.simulator.faults.reset()
            await exchange.respond_json(200, {"cleared": "faults"})
        elif route == ("DELETE", "/_sim/cache"):
            self.simulator.cache.clear()
            await exchange.respond_json(200, {"cleared": "cache"})
        else:
            message = f"Not found: {exchange.method} {exchange.path}"
            await exchange.respond_json(404, error_envelope("not_found_error", message, exchange.request_id))

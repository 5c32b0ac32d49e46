"""The gateway core: every surface's model calls go through ``GatewayCore`` in one visible order.

    authenticate (``principal``, once per request or connection)
      → route (404) → permission (403) → per-key limits and budget (429)
      → the route's retrieval (passages into the request, or a search loop; ``_route_retrieval``)
      → deployments in the route's order: breaker → deployment limits → attempt, fail over, retry
      → the answer (a message, or a stream of canonical events)
      → settle: usage, cost, limits corrected, ledger row, metrics, span, access-log line (a
        connection's call) — exactly once per call

A surface builds a ``Call`` (principal, dialect, canonical request, options), asks ``create``,
``stream`` or ``count_tokens``, and frames what comes back. Settlement happens once whether the
call ends normally, with an upstream error, because the client left, or because it was cancelled:
``create`` settles before it returns or raises; a ``StreamReply`` settles when it is closed (its
surface closes it in a ``finally``). The core knows nothing of ASGI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from claudegate.client import AsyncTransport
from claudegate.errors import ERROR_TYPE_STATUS
from claudegate.gateway._access_log import AccessLog
from claudegate.gateway._config import GatewayConfig
from claudegate.gateway._metrics import Metrics
from claudegate.gateway.core._attempts import Held, Upstream, call_deployments
from claudegate.gateway.core._auth import keys_issued
from claudegate.gateway.core._budget import COST_HEADER, usage_cost
from claudegate.gateway.core._call import Call, Principal
from claudegate.gateway.core._chat_passthrough import ChatStreamTap, completion_usage, log_estimate
from claudegate.gateway.core._errors import GatewayError, classify, shown
from claudegate.gateway.core._responses import ResponseHistory
from claudegate.gateway.core._retrieval import RetrievalService
from claudegate.gateway.core._route_retrieval import augment, search_loop
from claudegate.gateway.core._router import Deployment, Route, Router
from claudegate.gateway.core._runtime import Runtime
from claudegate.gateway.core._sampling import normalize_sampling
from claudegate.gateway.core._stream_text import StreamObserver, StreamText
from claudegate.gateway.core._threads import Threads, ThreadTurn
from claudegate.gateway.core._toolstream import buffer_tool_arguments
from claudegate.gateway.core._tracing import Tracing
from claudegate.gateway.core._usage import UsageTap
from claudegate.gateway.webhooks import Webhooks
from claudegate.providers import ProviderRequest, ProviderResponse, ProviderStream
from claudegate.sse import SSEDecoder, message_to_events
from claudegate.store import MemoryCounters

if TYPE_CHECKING:  # the SQL and Redis layers load only when keys, limits or storage are configured
    from claudegate.gateway.core._policies import Admitted, Policies


__all__ = ["GatewayCore", "StreamReply"]

log = logging.getLogger("claudegate.gateway")


async def _create(deployment: Deployment, request: ProviderRequest) -> ProviderResponse:
    return await deployment.provider.create(request)


async def _stream(deployment: Deployment, request: ProviderRequest) -> ProviderStream:
    return await deployment.provider.stream(request)


def _estimate(call: Call) -> tuple[int, int]:
    """Tokens a deployment's limits are charged before the answer is known."""
    size = call.size or (len(call.raw) if call.raw is not None else len(orjson.dumps(call.request)))
    cap = call.request.get("max_tokens")
    return max(1, -(-size // 3)), cap if isinstance(cap, int) and cap > 0 else 1


class _Settlement:
    """What a call holds until it settles, and the settling itself (once)."""

    __slots__ = ("admitted", "call", "core", "held", "runtime")

    def __init__(self, core: GatewayCore, call: Call, runtime: Runtime) -> None:
        self.core = core
        self.call = call
        self.runtime = runtime
        self.admitted: Admitted | None = None
        self.held: Held | None = None

    def failed(self, exc: BaseException) -> None:
        outcome = self.call.outcome
        if outcome.error is not None:
            return
        if isinstance(exc, asyncio.CancelledError):
            outcome.status = 499
            return
        error = classify(exc)
        outcome.error = error
        outcome.status = error.status

    async def settle(self) -> None:
        """Usage, cost, limits, ledger and metrics, once; shielded from the caller's cancellation."""
        outcome = self.call.outcome
        if outcome.settled:
            return
        outcome.settled = True
        if outcome.usage:
            outcome.cost = usage_cost(self.call.model, outcome.usage)
        if self.held is None and self.core.policies is None:
            self._finish()
            return
        task = asyncio.get_running_loop().create_task(self._settle_shared())
        await asyncio.shield(task)

    async def _settle_shared(self) -> None:
        try:
            if self.held is not None:
                try:
                    await self.held.settle(self.call.outcome.usage)
                except Exception:
                    log.exception("settling the deployment limits of %s failed", self.call.request_id)
            policies = self.core.policies
            if policies is not None and self.call.metered:
                await policies.settle(self.call, self.admitted)
        finally:
            self._finish()

    def _finish(self) -> None:
        call, outcome, metrics = self.call, self.call.outcome, self.core.metrics
        outcome.model_label = self.runtime.labels.label(call.model, outcome.error is None)
        metrics.record_usage(outcome.model_label, outcome.usage)
        if outcome.upstream_latency is not None and outcome.deployment:
            metrics.upstream_latency.observe((outcome.deployment,), outcome.upstream_latency)
        self.runtime.leave()
        if call.span is not None:
            self.core.tracing.end_call(call.span, call)
        if call.access is not None:  # a connection's call: no HTTP request's line covers it
            self.core.access_log.record_call(call)


class StreamReply:
    """A streamed answer. Read it once, by ``raw_chunks()`` (Anthropic SSE bytes, the upstream's own
    when ``native``) or by ``batches()`` (canonical events, grouped as they arrived); then
    ``aclose()`` it, which closes the upstream and settles the call.

    A failure mid-stream raises ``ClaudegateError`` from the iterator (framed by the surface as an
    error frame); an in-stream ``error`` event from the upstream passes through as an event.
    """

    __slots__ = (
        "_chat_tap",
        "_settlement",
        "_source",
        "_tap",
        "_text",
        "_turn",
        "call",
        "downgraded",
        "finished",
        "native",
        "tool_stream",
    )

    def __init__(
        self,
        settlement: _Settlement,
        source: ProviderStream | list[dict[str, Any]],
        tool_stream: str,
        downgraded: bool,
        turn: ThreadTurn | None = None,
    ) -> None:
        self._settlement = settlement
        self._source = source
        self._turn = turn
        self.call = settlement.call
        self.tool_stream = tool_stream
        self.downgraded = downgraded
        self.native = (
            isinstance(source, ProviderStream)
            and source.native
            and tool_stream == "passthrough"
            and (turn is None or turn.held_upstream)  # a gateway-held thread's reply gets its own id
        )
        self.finished = False
        """True once ``message_stop`` went by (the answer is whole)."""
        self._tap = UsageTap()
        self._tap.usage = self.call.outcome.usage
        self._chat_tap: ChatStreamTap | None = None
        observer = settlement.core.stream_observer
        self._text = None if observer is None else StreamText.of(observer, self.call)
        """The answer's text to the stream observers (None: nobody observes this stream)."""

    @property
    def dialect(self) -> str:
        """``openai`` when the answer is the upstream's own OpenAI stream: read it by ``chat_chunks()``."""
        source = self._source
        return source.dialect if isinstance(source, ProviderStream) else "anthropic"

    def _error_event(self, event: dict[str, Any]) -> None:
        error = event.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        status = ERROR_TYPE_STATUS.get(kind or "", 500)
        outcome = self.call.outcome
        outcome.status = status
        outcome.error = GatewayError(
            status,
            kind or "api_error",
            str(error.get("message", "")) if isinstance(error, dict) else "",
            upstream=dict(error) if isinstance(error, dict) else None,
        )

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        """The answer as Anthropic SSE bytes, with usage read off on the way."""
        source = self._source
        if not isinstance(source, ProviderStream) or not self.native:
            async for batch in self.batches():
                yield b"".join(_encode(event) for event in batch)
            return
        decoder, tap, text = SSEDecoder(), self._tap, self._text
        try:
            async for chunk in source.raw_chunks():
                events = decoder.feed(chunk)
                if text is not None:
                    text.sse(events)
                for sse in events:
                    kind = sse.event
                    if kind == "message_start" or kind == "message_delta":
                        tap.observe(orjson.loads(sse.data))
                    elif kind == "message_stop":
                        self.finished = True
                    elif kind == "error":
                        self._error_event(orjson.loads(sse.data))
                if self.finished and self._turn is not None:
                    await self._turn.streamed(tap.message_id)  # stored before the client reads the end
                yield chunk
        except Exception as exc:  # the surface frames it; the ledger keeps its status
            self._settlement.failed(exc)
            raise

    async def raw_events(self) -> AsyncIterator[list[tuple[str, str]]]:
        """The answer as (event type, event JSON) pairs, a list per upstream read, with usage read
        off. A native stream's events are the upstream's own JSON text, never decoded (only the
        usage-bearing ones are); others are encoded from the canonical events."""
        source = self._source
        if not isinstance(source, ProviderStream) or not self.native:
            async for batch in self.batches():
                yield [(str(event.get("type", "")), orjson.dumps(event).decode()) for event in batch]
            return
        decoder, tap, loads = SSEDecoder(), self._tap, orjson.loads
        try:
            async for chunk in source.raw_chunks():
                out: list[tuple[str, str]] = []
                for sse in decoder.feed(chunk):
                    kind, data = sse.event, sse.data
                    if kind is None or not data:
                        continue
                    if kind == "message_start" or kind == "message_delta":
                        tap.observe(loads(data))
                    elif kind == "message_stop":
                        self.finished = True
                    elif kind == "error":
                        self._error_event(loads(data))
                    out.append((kind, data))
                if self.finished and self._turn is not None:
                    await self._turn.streamed(tap.message_id)
                if out:
                    if self._text is not None:
                        self._text.pairs(out)
                    yield out
        except Exception as exc:  # the surface frames it; the ledger keeps its status
            self._settlement.failed(exc)
            raise

    async def chat_chunks(self) -> AsyncIterator[bytes]:
        """The upstream's own OpenAI SSE bytes (an OpenAI client's pass-through), whole frames at a
        time, with usage and errors read off (see ``_chat_passthrough``)."""
        source = self._source
        assert isinstance(source, ProviderStream) and source.dialect == "openai"
        chat = self.call.chat
        tap = self._chat_tap = ChatStreamTap(chat is not None and chat.add_usage)
        text = self._text
        try:
            async for chunk in source.raw_chunks():
                ready = tap.feed(chunk)
                if text is not None and ready:
                    text.chat(ready)
                if tap.done:
                    self.finished = True
                if tap.error is not None:
                    self._error_event(tap.error)
                    yield ready
                    return
                if ready:
                    yield ready
            tail = tap.finish()
            self.finished = True
            if tail:
                if text is not None:
                    text.chat(tail)
                yield tail
        except Exception as exc:  # the surface frames it; the ledger keeps its status
            self._settlement.failed(exc)
            raise
        finally:
            if tap.usage is not None:
                self.call.outcome.usage.update(tap.usage)

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The answer as canonical events, a list per upstream read, with usage read off."""
        source = self._source
        batches = source.batches() if isinstance(source, ProviderStream) else _replay(source)
        if self.tool_stream == "buffer":
            batches = buffer_tool_arguments(batches, self._settlement.core.metrics.repaired)
        observe, turn, text = self._tap.observe, self._turn, self._text
        rewrite = turn is not None and not turn.held_upstream
        try:
            async for batch in batches:
                if rewrite:
                    assert turn is not None
                    batch = turn.observe(batch)
                if text is not None:
                    text.events(batch)
                for event in batch:
                    kind = event.get("type")
                    if kind == "content_block_delta":  # most events: nothing to read off them
                        continue
                    if kind == "message_start" or kind == "message_delta":
                        observe(event)
                    elif kind == "message_stop":
                        self.finished = True
                    elif kind == "error":
                        self._error_event(event)
                if self.finished and turn is not None:
                    await turn.streamed(self._tap.message_id)
                yield batch
        except Exception as exc:  # the surface frames it; the ledger keeps its status
            self._settlement.failed(exc)
            raise

    async def aclose(self) -> None:
        """Close the upstream (cancelling it when unfinished) and settle the call, once."""
        outcome = self.call.outcome
        if outcome.settled:
            return
        try:
            if self._turn is not None:
                await asyncio.shield(self._turn.close())
            if isinstance(self._source, ProviderStream):
                await self._source.aclose()
        finally:
            if not self.finished and outcome.error is None:
                outcome.status = 499  # the reader stopped before the end: the client left
            outcome.stop_reason = self._tap.stop_reason
            if self._tap.model:
                outcome.response_model = self._tap.model
            chat_tap = self._chat_tap
            if chat_tap is not None and not outcome.usage:  # cut short, or an upstream that never tells
                outcome.usage.update(chat_tap.estimate(self.call.size))
                if self.finished:
                    self._settlement.core.metrics.usage_estimated.inc()
                    log_estimate(self.call.request_id, outcome.deployment)
            if self._text is not None:  # before settling: a caller cancelled at the end stops there
                self._text.close(self.finished, outcome.stop_reason)
            await self._settlement.settle()


async def _replay(events: list[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    yield events


def _encode(event: dict[str, Any]) -> bytes:
    from claudegate.sse import encode_json_event

    return encode_json_event(event)


class GatewayCore:
    """Routes, policies and metrics of one gateway, and the one pipeline every call takes."""

    def __init__(
        self,
        config: GatewayConfig,
        transport: AsyncTransport,
        metrics: Metrics | None = None,
        *,
        config_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.metrics = metrics or Metrics()
        self.config_path = Path(config_path) if config_path is not None else None
        self.clock = clock
        """Seconds since the epoch, for the in-process counters' windows (tests pass a fake one)."""
        self._local_counters = MemoryCounters(clock=clock)
        self.threads = Threads(clock)
        self.runtime = Runtime(config, transport, self._local_counters)
        self.policies: Policies | None = None
        if config.auth is not None or config.limits is not None or config.storage is not None:
            from claudegate.gateway.core._policies import Policies

            self.policies = Policies(config, clock=clock)
        self.responses = ResponseHistory(lambda: self.config, lambda: self.policies, clock)
        """Stored Responses API answers (``previous_response_id``), opened on first use."""
        self.webhooks = Webhooks(config.webhooks, None, clock=clock)
        """Signed webhook attempts (``webhooks``); after ``start`` its secrets live in the database."""
        self.tracing = Tracing.from_config(config.observability)
        """Spans of calls, jobs and webhook deliveries (off without a tracer provider)."""
        self.access_log = AccessLog(config.observability.access_log)
        """One line per HTTP request (the app writes it) and per call over a WebSocket, Socket.IO
        or GraphQL connection (written at settlement) on ``claudegate.access``."""
        self.retrieval = RetrievalService(self)
        """The collections' store (opened on first use), for ``/v1/collections`` and for routes
        with ``retrieval``."""
        self.ready = False
        self.reloaded_at: float | None = None
        self.reload_error: str | None = None
        self.stream_observer: StreamObserver | None = None
        """Who observes the text of the streams served (event pipelines on ``stream.window`` or
        ``stream.completed``); None: nobody, and a stream pays one attribute read for it."""

    @property
    def config(self) -> GatewayConfig:
        return self.runtime.config

    @property
    def router(self) -> Router:
        return self.runtime.router

    async def start(self) -> None:
        """Open the policies (database, counters) and every provider (called before serving)."""
        config = self.config
        if self.policies is None and config.auth is None and await keys_issued(config):
            # Keys issued but no ``auth`` section: they are enforced all the same.
            from claudegate.gateway.core._policies import Policies

            log.warning("API keys are issued in the key database: every request needs one")
            self.policies = Policies(config, implicit_auth=True, clock=self.clock)
        if self.policies is not None:
            await self.policies.start()
            self.threads.share(self.policies.database)
            storage = config.storage
            if storage is not None and storage.redis_url:
                self.runtime.bind(self.policies.counters, shared=True)
            self.webhooks = Webhooks(config.webhooks, self.policies.database, clock=self.clock)
        await self.webhooks.start()
        await self.runtime.start()
        self.ready = True

    async def close(self) -> None:
        """Close every provider, the upstream pool; write the last ledger rows, export the last spans."""
        self.ready = False
        await self.runtime.close()
        await self.transport.aclose()
        await self.threads.close()
        await self.responses.close()
        await self.retrieval.close()
        await self.webhooks.close()
        if self.policies is not None:
            await self.policies.close()
        await self.tracing.flush()

    @property
    def auth_enforced(self) -> bool:
        """Whether callers need a key (once one is issued) — what the serve banner reports."""
        policies = self.policies
        return policies is not None and policies.auth is not None and policies.auth.enforce

    async def principal(self, credential: str | None) -> Principal:
        """Who presents ``credential``: a key, anonymous on an open gateway, or a 401."""
        if self.policies is None:
            return _ANONYMOUS
        return await self.policies.principal(credential)

    async def check_operator(self, credential: str | None) -> None:
        """Let ``credential`` read the operational endpoints (``auth.operations``), or raise 401/403.

        An open gateway (no key enforced) shows them to anyone, as it serves anyone."""
        policies = self.policies
        if policies is None or policies.auth is None:
            return
        if policies.auth_config is not None and policies.auth_config.operations == "admin":
            policies.auth.check_admin(credential)
            return
        if credential is not None and policies.auth.is_admin(credential):
            return
        await policies.auth.principal(credential)

    async def admit_operation(self, principal: Principal, bucket: str) -> None:
        """Count one operation that is not a model call (a GraphQL query, a subscription) against
        the caller's ``requests_per_minute`` in ``bucket``, or raise the 429."""
        if self.policies is not None:
            await self.policies.admit_operation(principal, bucket)

    def is_admin(self, credential: str | None) -> bool:
        """Whether ``credential`` is the admin key (``auth.admin_key``)."""
        auth = self.policies.auth if self.policies is not None else None
        return credential is not None and auth is not None and auth.is_admin(credential)

    def check_admin(self, credential: str | None) -> Policies:
        """The policies, when ``credential`` is the admin key (else a 401/403/404)."""
        policies = self.policies
        if policies is None or policies.auth is None or policies.keys is None:
            raise GatewayError(
                404, "not_found_error", "the admin API needs an auth section in the configuration"
            )
        policies.auth.check_admin(credential)
        return policies

    def _settlement(self, call: Call) -> _Settlement:
        call.outcome.model = call.model
        if self.tracing.enabled:
            call.span = self.tracing.start_call(call, call.dialect)
        return _Settlement(self, call, self.runtime.enter())

    async def _begin(self, settlement: _Settlement) -> Route:
        call = settlement.call
        route = settlement.runtime.resolve(call.model, embeddings=call.embeddings)
        if route.normalize_sampling and not call.embeddings:
            normalize_sampling(call)
        if call.serves is not None:  # made for an admitted call, on a model its route chose
            return route
        if not call.principal.may_use(call.model):
            what = call.principal.kind
            raise GatewayError(
                403, "permission_error", f"this {what} may not use model {shown(call.model)!r}", "model"
            )
        if self.policies is not None:
            try:
                if call.metered:
                    settlement.admitted = await self.policies.admit(call)
                else:
                    await self.policies.admit_counting(call)
            except GatewayError as refusal:
                call.outcome.headers.extend(refusal.headers.items())
                raise
        return route

    async def create(self, call: Call) -> ProviderResponse:
        """A whole answer (settled before it returns)."""
        response = await self._whole(call, _create, threaded=True)
        outcome = call.outcome
        if self.policies is not None:
            cost = usage_cost(call.model, outcome.usage)
            outcome.headers = [(n, v) for n, v in outcome.headers if n != COST_HEADER]
            outcome.headers.append((COST_HEADER, f"{cost:.6f}"))
        if response.dialect == "anthropic":  # an OpenAI answer's was read with its usage
            outcome.stop_reason = response.message.get("stop_reason")
        return response

    async def _whole(
        self, call: Call, upstream: Upstream[ProviderResponse], *, threaded: bool = False
    ) -> ProviderResponse:
        """One non-streamed upstream answer, its usage recorded, the call settled. ``threaded``: a
        model call proper (``create``), which threads and the route's retrieval apply to."""
        settlement = self._settlement(call)
        turn: ThreadTurn | None = None
        try:
            route = await self._begin(settlement)
            spec = route.retrieval if threaded else None
            if spec is not None and spec.mode == "tool":
                response, settlement.held = await search_loop(
                    self, call, route, spec, upstream, _estimate(call)
                )
            else:
                if spec is not None:
                    await augment(self, call, spec)
                if threaded and "thread" in call.request:
                    turn = await self.threads.begin(call, route, settlement.runtime.config)
                if turn is not None:
                    route, upstream = turn.route, turn.upstream(upstream)
                response, settlement.held = await call_deployments(
                    call, route, upstream, _estimate(call), tracing=self.tracing
                )
            if response.dialect == "openai":
                assert response.raw is not None
                self._tap_completion(call, response.raw)
                return response
            if turn is not None:
                response = await turn.answered(response)
            usage = response.message.get("usage")
            if isinstance(usage, dict):
                call.outcome.usage.update(usage)
            if call.span is not None:
                call.outcome.response_model = str(response.message.get("model") or "")
                self.tracing.output(call.span, response.message)
            return response
        except BaseException as exc:
            settlement.failed(exc)
            raise
        finally:
            if turn is not None:
                await asyncio.shield(turn.close())
            await settlement.settle()

    def _tap_completion(self, call: Call, raw: bytes) -> None:
        """Usage and stop reason of an OpenAI upstream's own completion (a pass-through)."""
        outcome = call.outcome
        usage, outcome.stop_reason, estimated = completion_usage(raw, call.size)
        outcome.usage.update(usage)
        if estimated:
            self.metrics.usage_estimated.inc()
            log_estimate(call.request_id, outcome.deployment)

    async def stream(self, call: Call) -> StreamReply:
        """A streamed answer, once the upstream's headers are in; close it to settle the call."""
        settlement = self._settlement(call)
        turn: ThreadTurn | None = None
        try:
            route = await self._begin(settlement)
            spec = route.retrieval
            if spec is not None and spec.mode == "tool":  # the answer is known once the loop ends
                response, settlement.held = await search_loop(
                    self, call, route, spec, _create, _estimate(call)
                )
                events = message_to_events(response.message)
                return StreamReply(settlement, events, call.tool_stream or route.tool_stream, True)
            if spec is not None:
                await augment(self, call, spec)
            whole: Upstream[ProviderResponse] = _create
            streamed: Upstream[ProviderStream] = _stream
            if "thread" in call.request:
                turn = await self.threads.begin(call, route, settlement.runtime.config)
            if turn is not None:
                route, whole, streamed = turn.route, turn.upstream(_create), turn.upstream(_stream)
            tool_stream = call.tool_stream or route.tool_stream
            estimate = _estimate(call)
            downgrade = route.stream_downgrade and bool(call.request.get("tools"))
            chat = call.chat
            if chat is not None and (downgrade or tool_stream == "buffer"):
                # What the route asks of streams (whole tool arguments) needs the translation.
                if chat.untranslatable is not None:
                    raise chat.untranslatable
                call.chat = None
            if downgrade:
                request = {**call.request, "stream": False}
                response, settlement.held = await call_deployments(
                    call, route, whole, estimate, request, tracing=self.tracing
                )
                events = message_to_events(response.message)
                return StreamReply(settlement, events, tool_stream, True, turn)
            upstream, settlement.held = await call_deployments(
                call, route, streamed, estimate, tracing=self.tracing
            )
            return StreamReply(settlement, upstream, tool_stream, False, turn)
        except BaseException as exc:
            if turn is not None:
                await asyncio.shield(turn.close())
            settlement.failed(exc)
            await settlement.settle()
            raise

    async def embed(self, call: Call) -> dict[str, Any]:
        """Embeddings for ``call.request`` (OpenAI's embeddings body): OpenAI's ``list`` answer,
        its ``usage.prompt_tokens`` recorded as the call's input tokens (settled before it returns)."""
        call.embeddings = True
        settlement = self._settlement(call)
        try:
            route = await self._begin(settlement)
            response, settlement.held = await call_deployments(call, route, _embed, (_estimate(call)[0], 0))
            answer = response.message
            usage = answer.get("usage")
            tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
            call.outcome.usage.update(
                {"input_tokens": tokens if isinstance(tokens, int) else 0, "output_tokens": 0}
            )
            return answer
        except BaseException as exc:
            settlement.failed(exc)
            raise
        finally:
            await settlement.settle()

    async def count_tokens(self, call: Call) -> int | None:
        """The upstream's input-token count for the request, or None when it cannot count."""
        call.metered = False
        counted = (await self._whole(call, _count)).message.get("input_tokens")
        return counted if isinstance(counted, int) else None

    async def reload(self, config: GatewayConfig) -> None:
        """Serve ``config`` from now on; calls in flight finish on the routes they began on."""
        old = self.runtime
        new = Runtime(config, self.transport, self._local_counters, previous=old)
        policies = self.policies
        if policies is not None:
            storage = config.storage
            if storage is not None and storage.redis_url:
                new.bind(policies.counters, shared=True)
            if (config.auth, config.storage) != (old.config.auth, old.config.storage):
                log.warning("the auth and storage sections take effect at the next restart")
        if config.webhooks != old.config.webhooks:
            log.warning("the webhooks section takes effect at the next restart")
        try:
            await new.start()
        except BaseException:
            await new.close()
            raise
        if policies is not None:
            policies.configure(config)
        self.runtime = new
        self.reloaded_at = time.time()
        self.reload_error = None
        old.retire()


_ANONYMOUS = Principal()


async def _embed(deployment: Deployment, request: ProviderRequest) -> ProviderResponse:
    provider = deployment.provider
    if not provider.embeds:
        raise GatewayError(
            400,
            "invalid_request_error",
            f"model: {shown(str(request.body.get('model')))!r} is served by a {provider.kind} deployment, "
            "which has no embeddings",
            "model",
        )
    return await provider.embed(request)


async def _count(deployment: Deployment, request: ProviderRequest) -> ProviderResponse:
    counted = await deployment.provider.count_tokens(request)
    return ProviderResponse(message={"input_tokens": counted})

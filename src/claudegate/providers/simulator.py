"""The simulator as an in-process provider: no socket, the same answers as ``claudegate sim``.

Faults and latency work as over HTTP: the ``x-sim-fault`` and ``x-sim-latency`` request headers
(forwarded by the gateway) and the simulator's config apply, except that a "reset" is an
``APIConnectionError`` here rather than a torn TCP connection. The deployment's timeouts apply as
to any upstream: ``total`` bounds a whole answer (and a stream until its first event), ``read`` the
silence between two events; either ends the call with ``APITimeoutError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from claudegate.client import Timeout
from claudegate.errors import APIConnectionError, APITimeoutError
from claudegate.providers._base import (
    Provider,
    ProviderRequest,
    ProviderResponse,
    ProviderStream,
    invalid_request,
)
from claudegate.retrieval._embeddings_api import EmbeddingInputError
from claudegate.simulator import Simulator, SimulatorConfig
from claudegate.simulator._embeddings import simulated_embeddings
from claudegate.simulator._errors import api_error, error_envelope
from claudegate.simulator._faults import Fault, Latency, parse_latency

__all__ = ["SimulatorProvider"]


class SimulatorProvider(Provider):
    """Answers from an in-process ``Simulator``."""

    kind = "simulator"

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        simulator: Simulator | None = None,
        timeout: Timeout | None = None,
    ) -> None:
        self.simulator = simulator or Simulator(config)
        config = self.simulator.config
        self._latency = Latency(config.time_to_first_token, config.event_delay)
        self.timeout = timeout or Timeout(total=None, connect=None, read=None)

    def _fault(self, request: ProviderRequest) -> Fault | None:
        spec = request.headers.get("x-sim-fault") or self.simulator.config.fault
        if not spec:
            return None
        try:
            return self.simulator.faults.select(spec)
        except ValueError as exc:
            raise api_error(400, "invalid_request_error", f"x-sim-fault: {exc}") from None

    def _latency_of(self, request: ProviderRequest) -> Latency:
        spec = request.headers.get("x-sim-latency")
        if spec is None:
            return self._latency
        try:
            return parse_latency(spec, self._latency)
        except ValueError as exc:
            raise api_error(400, "invalid_request_error", f"x-sim-latency: {exc}") from None

    async def _before_answer(self, fault: Fault | None, *, streaming: bool) -> None:
        if fault is None:
            return
        if fault.kind == "status" or (fault.kind == "error-mid" and not streaming):
            error = api_error(fault.status, fault.error_type, fault.message)
            headers: dict[str, str] = {}
            if fault.retry_after is not None or fault.status in (429, 529):
                headers["retry-after"] = f"{fault.retry_after if fault.retry_after is not None else 1:g}"
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            if fault.should_retry is not None:
                headers["x-should-retry"] = "true" if fault.should_retry else "false"
            error.headers = headers
            raise error
        if fault.kind == "reset-before":
            raise APIConnectionError("Connection error: the simulated upstream reset the connection")
        if fault.kind == "stall":
            await asyncio.Event().wait()  # until the caller gives up (a timeout or a disconnect)

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        try:
            async with asyncio.timeout(_shortest(self.timeout.total, self.timeout.read)):
                return await self._create(request)
        except TimeoutError:
            raise APITimeoutError("the simulated upstream did not answer in time") from None

    async def _create(self, request: ProviderRequest) -> ProviderResponse:
        fault = self._fault(request)
        await self._before_answer(fault, streaming=False)
        message = self.simulator.create(request.body)
        latency = self._latency_of(request)
        if latency.first_token or latency.per_event:
            await asyncio.sleep(latency.first_token + latency.per_event * len(message["content"]))
        if fault is not None and fault.kind == "reset-mid":
            raise APIConnectionError("Connection error: the simulated upstream reset the connection")
        return ProviderResponse(
            message=message, headers={"request-id": message["id"].replace("msg_", "req_")}
        )

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        fault = self._fault(request)
        latency = self._latency_of(request)
        try:
            async with asyncio.timeout(_shortest(self.timeout.total, self.timeout.read)):
                await self._before_answer(fault, streaming=True)
        except TimeoutError:
            raise APITimeoutError("the simulated upstream did not answer in time") from None
        events = self.simulator.events(request.body)
        return _SimulatedStream(events, fault, latency, request.request_id, self.timeout.read)

    async def count_tokens(self, request: ProviderRequest) -> int | None:
        return self.simulator.count_tokens(request.body)

    embeds = True

    async def embed(self, request: ProviderRequest) -> ProviderResponse:
        """The simulator's deterministic embeddings (as its ``/v1/embeddings``); faults apply."""
        fault = self._fault(request)
        await self._before_answer(fault, streaming=False)
        try:
            answer = simulated_embeddings(request.body)
        except EmbeddingInputError as exc:
            raise invalid_request(str(exc), exc.param) from None
        return ProviderResponse(message=answer)


class _SimulatedStream(ProviderStream):
    def __init__(
        self,
        events: list[dict[str, Any]],
        fault: Fault | None,
        latency: Latency,
        request_id: str,
        read: float | None,
    ) -> None:
        self._events = events
        self._read = read
        self._request_id = request_id or None
        self._fault = fault if fault is not None and fault.kind in ("reset-mid", "error-mid") else None
        self._latency = latency
        self.headers = {"request-id": events[0]["message"]["id"].replace("msg_", "req_")}

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        events = self._events
        cut = min(self._fault.after, len(events) - 1) if self._fault is not None else len(events)
        first, per_event = self._latency.first_token, self._latency.per_event
        for position, event in enumerate(events[:cut]):
            wait = first if position == 1 else per_event if position > 1 else 0.0
            if wait:
                if self._read is not None and wait > self._read:
                    # The silence would outlast the read timeout: it ends the stream when it does.
                    await asyncio.sleep(self._read)
                    raise APITimeoutError("the simulated upstream went silent mid-stream")
                await asyncio.sleep(wait)
            yield event
        if self._fault is None:
            return
        if self._fault.kind == "reset-mid":
            raise APIConnectionError("the simulated upstream reset the connection mid-stream")
        yield error_envelope(self._fault.error_type, self._fault.message, self._request_id)

    async def aclose(self) -> None:
        return None


def _shortest(*limits: float | None) -> float | None:
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None

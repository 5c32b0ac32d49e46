"""Sending an SSE answer, shared by the HTTP surfaces: the stream's headers, its chunks, and the
gauges and timings every stream reports (active streams, time to first byte)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore

__all__ = ["send_stream"]


async def send_stream(
    core: GatewayCore, exchange: Exchange, chunks: AsyncIterator[bytes], extra: list[tuple[bytes, bytes]]
) -> None:
    """Start the stream and send ``chunks`` (their iterator is closed, whatever happens)."""
    metrics = core.metrics
    metrics.active_streams += 1
    try:
        await exchange.start_stream(extra)
        first_byte = await exchange.send_chunks(chunks)
    finally:
        metrics.active_streams -= 1
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
    if first_byte is not None:
        metrics.time_to_first_byte.observe((exchange.path,), first_byte)

"""Tool metrics into OpenTelemetry: a ``ToolMetrics`` hook that records to an OTel meter.

Instruments follow the OpenTelemetry semantic conventions for GenAI tool execution where they
exist: a ``claudegate.tool.calls`` counter and a ``claudegate.tool.duration`` histogram (seconds),
both with ``gen_ai.tool.name`` and ``claudegate.tool.outcome`` attributes, and a
``claudegate.tool.repairs`` counter.

>>> from opentelemetry import metrics
>>> executor = ToolExecutor(registry, metrics=OpenTelemetryToolMetrics(metrics.get_meter("my-app")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudegate.tools._metrics import Outcome

if TYPE_CHECKING:  # the caller brings its meter; importing opentelemetry is theirs to do
    from opentelemetry.metrics import Meter

__all__ = ["OpenTelemetryToolMetrics"]


class OpenTelemetryToolMetrics:
    """Records every tool call's outcome and duration with an OpenTelemetry ``Meter``."""

    def __init__(self, meter: Meter) -> None:
        self._calls = meter.create_counter(
            "claudegate.tool.calls", unit="{call}", description="Tool calls by outcome."
        )
        self._duration = meter.create_histogram(
            "claudegate.tool.duration", unit="s", description="Time a tool call took."
        )
        self._repairs = meter.create_counter(
            "claudegate.tool.repairs",
            unit="{repair}",
            description="Streamed tool arguments that had to be repaired.",
        )

    def observe(self, tool: str, outcome: Outcome, seconds: float) -> None:
        """Count one finished call and record its duration."""
        attributes = {"gen_ai.tool.name": tool, "claudegate.tool.outcome": outcome}
        self._calls.add(1, attributes)
        self._duration.record(seconds, attributes)

    def repaired(self, tool: str | None) -> None:
        """Count one repair of streamed arguments."""
        self._repairs.add(1, {"gen_ai.tool.name": tool or "(unknown)"})

"""Tool calls as spans: ``execute_tool <name>`` in the caller's trace, the outcome and error type
set, the arguments and results never recorded; the tool's own spans nest inside."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from claudegate.tools import ToolCall, ToolError, ToolExecutor, tool

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("tests")


@tool
async def lookup(city: str) -> str:
    """Look a city up."""
    with tracer.start_as_current_span("database query"):
        return f"{city}: sunny"


@tool
async def refuse(reason: str) -> str:
    """Always refuses."""
    raise ToolError(f"no: {reason}")


async def test_each_tool_call_is_a_span_in_the_callers_trace() -> None:
    exporter.clear()
    executor = ToolExecutor([lookup, refuse], tracer=tracer)
    with tracer.start_as_current_span("agent turn") as turn:
        results = await executor.run_many(
            [
                ToolCall("toolu_1", "lookup", {"city": "Paris-secret"}),
                ToolCall("toolu_2", "refuse", {"reason": "x"}),
            ]
        )
    assert [result.is_error for result in results] == [False, True]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    ok, failed, inner = spans["execute_tool lookup"], spans["execute_tool refuse"], spans["database query"]
    trace_id = turn.get_span_context().trace_id
    for span in (ok, failed):
        assert span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.span_id == turn.get_span_context().span_id
    assert inner.parent is not None and inner.parent.span_id == ok.context.span_id
    assert dict(ok.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": "toolu_1",
        "claudegate.tool.outcome": "ok",
    }
    assert ok.status.is_ok
    assert dict(failed.attributes or {})["error.type"] == "error"
    assert not failed.status.is_ok
    for span in (ok, failed):
        assert "Paris-secret" not in str(span.attributes) and "sunny" not in str(span.attributes)


async def test_without_a_tracer_no_span_is_made() -> None:
    exporter.clear()
    result = await ToolExecutor([lookup]).run(ToolCall("toolu_1", "lookup", {"city": "Oslo"}))
    assert not result.is_error
    assert [span.name for span in exporter.get_finished_spans()] == ["database query"]
    assert trace.get_current_span() is trace.INVALID_SPAN

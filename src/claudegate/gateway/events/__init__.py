"""Event pipelines: events matched by type to declared pipelines, each a model run with tools.

A pipeline (``Pipeline``, or ``events.pipelines`` in the gateway config) names the event types it
takes (globs), the model, a prompt template rendered in Jinja2's sandbox from the event, the tools
it may call (from ``events.tool_modules`` only), its priority, its concurrency and the type of the
result event it emits. ``Pipelines.from_config`` builds a gateway's set and ``matching`` finds the
pipelines of an event type.

``EventBus`` (``app.events``) takes events (``publish``, ``POST /v1/events``) and runs each
matched pipeline as a job of the gateway's job engine (``PipelineRunner``: the tool-use loop
through the core); ``get`` shows an event's status and result; ``dead`` and ``replay`` handle the
runs that failed every attempt. A pipeline with ``batch`` (``Batching``) has its low-priority runs
grouped (``app.events.batcher``); one that takes ``stream.window`` or ``stream.completed``
(``StreamWindow``, ``StreamFilter``) is fed the text of the streams the gateway serves
(``app.events.streams``).
"""

from __future__ import annotations

from claudegate.gateway.events._bus import Accepted, EventBus, dead_view
from claudegate.gateway.events._model import MAX_EVENTS, Event, events_of
from claudegate.gateway.events._observers import StreamObservers
from claudegate.gateway.events._pipelines import (
    Batching,
    Pipeline,
    Pipelines,
    StreamFilter,
    StreamWindow,
    load_tools,
)
from claudegate.gateway.events._run import PipelineRunner
from claudegate.gateway.events._template import PromptTemplate, TemplateRefused

__all__ = [
    "MAX_EVENTS",
    "Accepted",
    "Batching",
    "Event",
    "EventBus",
    "Pipeline",
    "PipelineRunner",
    "Pipelines",
    "PromptTemplate",
    "StreamFilter",
    "StreamObservers",
    "StreamWindow",
    "TemplateRefused",
    "dead_view",
    "events_of",
    "load_tools",
]

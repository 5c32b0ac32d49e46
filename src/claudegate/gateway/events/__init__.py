"""Event pipelines: events matched by type to declared pipelines, each a model run with tools.

A pipeline (``Pipeline``, or ``events.pipelines`` in the gateway config) names the event types it
takes (globs), the model, a prompt template rendered in Jinja2's sandbox from the event, the tools
it may call (from ``events.tool_modules`` only), its priority, its concurrency and the type of the
result event it emits. ``Pipelines.from_config`` builds a gateway's set and ``matching`` finds the
pipelines of an event type.
"""

from __future__ import annotations

from claudegate.gateway.events._pipelines import Pipeline, Pipelines, load_tools
from claudegate.gateway.events._template import PromptTemplate, TemplateRefused

__all__ = ["Pipeline", "Pipelines", "PromptTemplate", "TemplateRefused", "load_tools"]

"""Pipelines: which events each takes, and the model request an event becomes.

Declared in the gateway config (``events.pipelines``, tools found in ``events.tool_modules``) or in
Python::

    from claudegate.gateway.events import Pipeline
    from myapp.tools import check_policy_violations

    moderate = Pipeline(
        on=("content.submitted",),
        model="claude-haiku-4-5",
        prompt="Moderate this content: {{ payload.text }}",
        tools=(check_policy_violations,),
        priority="medium",
        emit="content.moderated",
    )
    request = moderate.request({"id": "ev_1", "type": "content.submitted", "payload": {"text": "…"}})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from claudegate.errors import UserError
from claudegate.gateway._config import ConfigError, EventsConfig, PipelineConfig
from claudegate.gateway.events._template import PromptTemplate
from claudegate.tools import Tool, ToolRegistry

__all__ = ["Batching", "Pipeline", "Pipelines", "StreamFilter", "StreamWindow", "load_tools"]

Priority = Literal["high", "medium", "low"]

STREAM_WINDOW = "stream.window"
STREAM_COMPLETED = "stream.completed"
"""The event types of stream observers (made by the gateway from the streams it serves)."""


@dataclass(frozen=True, slots=True)
class Batching:
    """A pipeline's grouping of its low-priority runs: at most ``size`` in a group, sent once
    ``size`` wait or the oldest has waited ``wait`` seconds."""

    size: int
    wait: float

    def __post_init__(self) -> None:
        if self.size < 1:
            raise UserError("batch.size must be >= 1", field="batch.size")
        if not self.wait > 0:
            raise UserError("batch.wait must be > 0 seconds", field="batch.wait")


@dataclass(frozen=True, slots=True)
class StreamWindow:
    """Where the windows of a stream's text end for a ``stream.window`` pipeline: every ``chars``
    characters, at sentence ends, or at whichever comes first."""

    chars: int | None = 1000
    sentences: bool = False

    def __post_init__(self) -> None:
        if self.chars is None and not self.sentences:
            raise UserError("window needs chars, sentences, or both", field="window")
        if self.chars is not None and self.chars < 1:
            raise UserError("window.chars must be >= 1", field="window.chars")


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which streams a stream pipeline observes: requested models (globs) and key ids; empty: any."""

    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    def admits(self, model: str, key_id: str | None) -> bool:
        if self.models and not any(fnmatchcase(model, pattern) for pattern in self.models):
            return False
        return not self.keys or key_id in self.keys


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One pipeline: the event types it takes (globs), the model, the prompt template, its tools."""

    on: tuple[str, ...]
    model: str
    prompt: str
    tools: tuple[Tool, ...] = ()
    priority: Priority = "medium"
    concurrency: int = 8
    emit: str | None = None
    name: str | None = None
    system: str | None = None
    max_tokens: int = 1024
    max_iterations: int = 10
    webhook: str | None = None
    room: str | None = None
    batch: Batching | None = None
    """Group its low-priority runs (see ``Batching``)."""
    window: StreamWindow | None = None
    """Where windows end, when it takes ``stream.window`` (default: every 1,000 characters)."""
    streams: StreamFilter | None = None
    """Which streams it observes, when it takes ``stream.window`` or ``stream.completed``."""
    registry: ToolRegistry = field(init=False, repr=False, compare=False)
    _prompt: PromptTemplate = field(init=False, repr=False, compare=False)
    _system: PromptTemplate | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.on or any(not pattern for pattern in self.on):
            raise UserError("a pipeline takes at least one event type", field="on")
        if self.priority not in ("high", "medium", "low"):
            raise UserError("priority is one of high, medium, low", field="priority")
        for name, value in (("concurrency", self.concurrency), ("max_tokens", self.max_tokens)):
            if value < 1:
                raise UserError(f"{name} must be >= 1", field=name)
        if self.max_iterations < 1:
            raise UserError("max_iterations must be >= 1", field="max_iterations")
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            raise UserError("webhook must be an http:// or https:// URL", field="webhook")
        object.__setattr__(self, "registry", ToolRegistry(self.tools))
        object.__setattr__(self, "_prompt", PromptTemplate(self.prompt, field="prompt"))
        system = PromptTemplate(self.system, field="system") if self.system is not None else None
        object.__setattr__(self, "_system", system)

    @property
    def label(self) -> str:
        """Its name, or its ``on`` patterns joined with ``,``."""
        return self.name or ",".join(self.on)

    def matches(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pattern) for pattern in self.on)

    @property
    def stream_window(self) -> StreamWindow | None:
        """Where its windows end, when it takes ``stream.window`` events (else None)."""
        if not self.matches(STREAM_WINDOW):
            return None
        return self.window or StreamWindow()

    def observes(self, model: str, key_id: str | None) -> bool:
        """Whether it observes a stream of ``model`` by the key ``key_id``."""
        return self.streams is None or self.streams.admits(model, key_id)

    def result_type(self, event_type: str) -> str:
        """The type of the event a run emits."""
        return self.emit or f"{event_type}.processed"

    def request(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Messages request a run of ``event`` starts with (``id``, ``type``, ``payload``); the
        prompt and system rendered in the sandbox (``TemplateRefused`` when refused)."""
        context = {
            "event": event,
            "id": event.get("id"),
            "type": event.get("type"),
            "payload": event.get("payload"),
        }
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": self._prompt.render(context)}],
        }
        if self._system is not None:
            request["system"] = self._system.render(context)
        if len(self.registry):
            request["tools"] = self.registry.to_anthropic()
        return request

    @classmethod
    def from_config(cls, config: PipelineConfig, tools: dict[str, Tool], where: str = "pipeline") -> Pipeline:
        """From a configured pipeline, its tools looked up in ``tools`` (``load_tools``)."""
        chosen: list[Tool] = []
        for index, name in enumerate(config.tools):
            found = tools.get(name)
            if found is None:
                field_name = f"{where}.tools[{index}]"
                raise ConfigError(f"{field_name}: no tool {name!r} in events.tool_modules", field=field_name)
            chosen.append(found)
        return cls(
            on=tuple(config.on),
            model=config.model,
            prompt=config.prompt,
            tools=tuple(chosen),
            priority=config.priority,
            concurrency=config.concurrency,
            emit=config.emit,
            name=config.name,
            system=config.system,
            max_tokens=config.max_tokens,
            max_iterations=config.max_iterations,
            webhook=config.webhook,
            room=config.room,
            batch=Batching(config.batch.size, config.batch.wait) if config.batch is not None else None,
            window=(
                StreamWindow(config.window.chars, config.window.sentences)
                if config.window is not None
                else None
            ),
            streams=(
                StreamFilter(tuple(config.streams.models), tuple(config.streams.keys))
                if config.streams is not None
                else None
            ),
        )


def load_tools(modules: Sequence[str]) -> dict[str, Tool]:
    """The module-level tools of ``modules`` by name; no other module is imported."""
    found: dict[str, tuple[Tool, str]] = {}
    for index, module_name in enumerate(modules):
        where = f"events.tool_modules[{index}]"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"{where}: cannot import {module_name!r}: {exc}", field=where) from None
        for value in vars(module).values():
            if not isinstance(value, Tool):
                continue
            seen = found.get(value.name)
            if seen is not None and seen[0] is not value:
                raise ConfigError(f"{where}: tool {value.name!r} is also defined in {seen[1]!r}", field=where)
            found[value.name] = (value, module_name)
    return {name: item for name, (item, _) in found.items()}


class Pipelines:
    """The pipelines of one gateway, in declaration order."""

    def __init__(self, pipelines: Iterable[Pipeline] = ()) -> None:
        self._pipelines: dict[str, Pipeline] = {}
        self.on_add: list[Callable[[Pipeline], None]] = []
        """Called with each pipeline added (the bus starts observing streams, say)."""
        for pipeline in pipelines:
            self.add(pipeline)

    def add(self, pipeline: Pipeline) -> Pipeline:
        if pipeline.label in self._pipelines:
            raise UserError(f"pipeline {pipeline.label!r} is declared twice (give each a name)", field="name")
        self._pipelines[pipeline.label] = pipeline
        for hook in self.on_add:
            hook(pipeline)
        return pipeline

    def get(self, label: str) -> Pipeline | None:
        return self._pipelines.get(label)

    def matching(self, event_type: str) -> list[Pipeline]:
        """Every pipeline that takes ``event_type``."""
        return [pipeline for pipeline in self._pipelines.values() if pipeline.matches(event_type)]

    def __iter__(self) -> Any:
        return iter(self._pipelines.values())

    def __len__(self) -> int:
        return len(self._pipelines)

    @classmethod
    def from_config(cls, config: EventsConfig) -> Pipelines:
        """The configured pipelines; ``ConfigError`` naming a tool no configured module defines."""
        tools = load_tools(config.tool_modules) if config.tool_modules else {}
        return cls(
            Pipeline.from_config(pipeline, tools, f"events.pipelines[{index}]")
            for index, pipeline in enumerate(config.pipelines)
        )

"""The loop: send the tools, run every ``tool_use`` of a turn in parallel, send results, repeat.

>>> runner = ToolRunner(client, registry)
>>> result = await runner.run(model="claude-sonnet-4-5", max_tokens=1024,
...                           messages=[{"role": "user", "content": "weather in Paris?"}])
>>> result.stop, result.text
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from claudegate.client import AsyncClient
from claudegate.errors import UserError
from claudegate.tools._calls import ToolCall, ToolResult
from claudegate.tools._executor import ToolExecutor
from claudegate.tools._registry import ToolRegistry
from claudegate.types import Message, Usage

__all__ = [
    "ModelEvent",
    "RunEvent",
    "RunFinished",
    "RunResult",
    "RunStop",
    "RunUsage",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolRunner",
]

RunStop = Literal["end_turn", "stop_sequence", "max_tokens", "refusal", "max_iterations", "other"]
_CONTINUE = ("tool_use", "pause_turn")


@dataclass(slots=True)
class RunUsage:
    """Token totals over every request of a run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    requests: int = 0

    def add(self, usage: Usage) -> None:
        """Add one response's usage."""
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_creation_input_tokens += usage.cache_creation_input_tokens or 0
        self.cache_read_input_tokens += usage.cache_read_input_tokens or 0
        self.requests += 1


@dataclass(slots=True)
class RunResult:
    """How a run ended: the last message, why it stopped, every turn sent and received, usage."""

    message: Message
    stop: RunStop
    messages: list[dict[str, Any]]
    usage: RunUsage
    iterations: int
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text blocks of the last message, joined."""
        return "".join(getattr(block, "text", "") for block in self.message.content if block.type == "text")


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """A raw stream event of the model's turn number ``iteration`` (1-based)."""

    iteration: int
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call began (its arguments are complete)."""

    iteration: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ended; events come as calls finish, results go back in block order."""

    iteration: int
    result: ToolResult


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The last event of a streamed run."""

    result: RunResult


RunEvent = ModelEvent | ToolCallStarted | ToolCallFinished | RunFinished


_STOPS: dict[str | None, RunStop] = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
}


def _stop_of(message: Message) -> RunStop:
    return _STOPS.get(message.stop_reason, "other")


def _assistant_turn(message: Message) -> dict[str, Any]:
    return {"role": "assistant", "content": [block.to_dict() for block in message.content]}


def _calls(message: Message) -> list[ToolCall]:
    return [ToolCall.from_block(block) for block in message.content if block.type == "tool_use"]


class ToolRunner:
    """Drive a conversation with tools until the model answers (see the module docstring)."""

    def __init__(
        self, client: AsyncClient, registry: ToolRegistry, *, executor: ToolExecutor | None = None
    ) -> None:
        self.client = client
        self.registry = registry
        self.executor = executor if executor is not None else ToolExecutor(registry)

    def _request(self, messages: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        request = dict(args)
        request["messages"] = messages
        request["tools"] = [*self.registry.to_anthropic(), *(args.get("tools") or ())]
        return request

    @staticmethod
    def _check(max_iterations: int, args: dict[str, Any]) -> None:
        if max_iterations < 1:
            raise UserError("max_iterations must be >= 1", field="max_iterations")
        if "stream" in args:
            raise UserError("use runner.stream() for streaming", field="stream")

    async def run(
        self,
        *,
        model: str,
        messages: Sequence[dict[str, Any]],
        max_tokens: int,
        max_iterations: int = 10,
        **args: Any,
    ) -> RunResult:
        """Loop until the model stops asking for tools, or ``max_iterations`` requests were sent.

        Extra keyword arguments (``system``, ``tool_choice``, ``temperature``...) go into each request.
        """
        self._check(max_iterations, args)
        args.update(model=model, max_tokens=max_tokens)
        transcript = list(messages)
        usage = RunUsage()
        results: list[ToolResult] = []
        iteration = 0
        while True:
            iteration += 1
            message = await self.client.messages.create(**self._request(transcript, args))
            usage.add(message.usage)
            transcript.append(_assistant_turn(message))
            outcome = await self._after_turn(message, transcript, results, iteration, max_iterations)
            if outcome is not None:
                return RunResult(message, outcome, transcript, usage, iteration, results)

    async def _after_turn(
        self,
        message: Message,
        transcript: list[dict[str, Any]],
        results: list[ToolResult],
        iteration: int,
        max_iterations: int,
        done: list[ToolResult] | None = None,
    ) -> RunStop | None:
        """Run the turn's tool calls (unless ``done`` already has them); a stop reason ends the loop."""
        if message.stop_reason not in _CONTINUE:
            return _stop_of(message)
        if message.stop_reason == "tool_use":
            turn = done if done is not None else await self.executor.run_many(_calls(message))
            results.extend(turn)
            transcript.append({"role": "user", "content": [result.to_block() for result in turn]})
        if iteration >= max_iterations:
            return "max_iterations"
        return None

    async def stream(
        self,
        *,
        model: str,
        messages: Sequence[dict[str, Any]],
        max_tokens: int,
        max_iterations: int = 10,
        **args: Any,
    ) -> AsyncIterator[RunEvent]:
        """Like ``run``, yielding the model's events, tool-call start/finish events, then ``RunFinished``.

        Each tool call starts as soon as its block is complete, while the model is still streaming.
        """
        self._check(max_iterations, args)
        args.update(model=model, max_tokens=max_tokens)
        transcript = list(messages)
        usage = RunUsage()
        results: list[ToolResult] = []
        iteration = 0
        while True:
            iteration += 1
            tasks: list[asyncio.Task[ToolResult]] = []
            try:
                async with self.client.messages.stream(**self._request(transcript, args)) as stream:
                    async for event in stream.raw_events():
                        yield ModelEvent(iteration, event)
                        call = _finished_tool_block(event, stream.current_message_snapshot())
                        if call is not None:
                            tasks.append(asyncio.create_task(self.executor.run(call)))
                            yield ToolCallStarted(iteration, call)
                    message = await stream.get_final_message()
                pending: set[asyncio.Task[ToolResult]] = set(tasks)
                while pending:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in sorted(finished, key=tasks.index):
                        yield ToolCallFinished(iteration, task.result())
            finally:
                for task in tasks:
                    task.cancel()
            usage.add(message.usage)
            transcript.append(_assistant_turn(message))
            turn = [task.result() for task in tasks]
            outcome = await self._after_turn(message, transcript, results, iteration, max_iterations, turn)
            if outcome is not None:
                yield RunFinished(RunResult(message, outcome, transcript, usage, iteration, results))
                return


def _finished_tool_block(event: dict[str, Any], snapshot: dict[str, Any]) -> ToolCall | None:
    """The tool call whose block this ``content_block_stop`` closes (arguments parsed), else None."""
    if event.get("type") != "content_block_stop":
        return None
    index = event.get("index")
    content = snapshot.get("content") or []
    if not isinstance(index, int) or not 0 <= index < len(content):
        return None
    block = content[index]
    if block.get("type") != "tool_use":
        return None
    return ToolCall.from_block(block)

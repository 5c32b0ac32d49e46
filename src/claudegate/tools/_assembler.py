"""Tool arguments rebuilt from streamed fragments, each call handed out once its JSON is whole.

Fragments come as Anthropic ``input_json_delta`` (keyed by content-block index) or as OpenAI
``tool_calls[].function.arguments`` pieces (keyed by tool-call index). Each call keeps a small
scanner state (inside a string, after a backslash, nesting depth), so a fragment is scanned once
and the text is parsed once, when the depth comes back to 0. When the tool's schema is known the
arguments are also checked against it (jsonschema-rs, compiled once per tool).

>>> assembler = ToolArgumentAssembler(registry)
>>> assembler.start(1, name="get_weather", id="toolu_1")
>>> assembler.feed(1, '{"city": "Par')          # None: not whole yet
>>> assembler.feed(1, 'is"}').arguments
{'city': 'Paris'}

Repair is a last resort: only calls still unfinished (or not valid JSON) when they are closed are
repaired, as ``claudegate.sse.parse_partial_json`` closes a cut document, and each repair is
counted in ``repairs`` and reported to the metrics hook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

from claudegate.sse import parse_partial_json
from claudegate.tools._metrics import ToolMetrics
from claudegate.tools._registry import ToolRegistry
from claudegate.tools._validation import schema_message

__all__ = ["AssembledArguments", "ToolArgumentAssembler"]

_OUTSIDE = re.compile(r'[{}\[\]"]')
_INSIDE = re.compile(r'["\\]')
_TOOL_BLOCKS = ("tool_use", "server_tool_use")


@dataclass(frozen=True, slots=True)
class AssembledArguments:
    """One call's whole arguments: ``text`` is compact JSON of ``arguments``.

    ``problem`` names the fields that do not fit the tool's schema (None when they fit or the
    schema is unknown); ``repaired`` says the text was unfinished and had to be closed.
    """

    key: int
    id: str | None
    name: str | None
    arguments: dict[str, Any]
    text: str
    repaired: bool = False
    problem: str | None = None


class _Call:
    """Scanner state of one call: no text is scanned twice."""

    __slots__ = ("closed_at", "depth", "escape", "id", "in_string", "name", "parts", "result")

    def __init__(self, name: str | None, id: str | None) -> None:
        self.name = name
        self.id = id
        self.parts: list[str] = []
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.closed_at = -1
        self.result: AssembledArguments | None = None

    def scan(self, fragment: str) -> int:
        """Where the top-level value closes in ``fragment`` (end offset), or -1 while it is open."""
        pos = 0
        end = len(fragment)
        if self.escape and end:
            self.escape = False
            pos = 1
        while pos < end:
            if self.in_string:
                match = _INSIDE.search(fragment, pos)
                if match is None:
                    return -1
                pos = match.end()
                if match.group() == "\\":
                    if pos >= end:
                        self.escape = True
                        return -1
                    pos += 1
                    continue
                self.in_string = False
            else:
                match = _OUTSIDE.search(fragment, pos)
                if match is None:
                    return -1
                pos = match.end()
                char = match.group()
                if char == '"':
                    self.in_string = True
                    continue
                if char in "{[":
                    self.depth += 1
                    continue
                self.depth -= 1
            if self.depth <= 0:
                return pos
        return -1


class ToolArgumentAssembler:
    """Collect streamed argument fragments per call; hand out each call's arguments once whole.

    ``schemas`` (a ``ToolRegistry`` or a dict of JSON schemas by tool name) makes whole arguments
    also be checked against their tool's schema. ``metrics.repaired(name)`` and ``on_repair(name)``
    hear of each repair; ``repairs`` counts them.
    """

    def __init__(
        self,
        schemas: ToolRegistry | Mapping[str, Mapping[str, Any]] | None = None,
        *,
        metrics: ToolMetrics | None = None,
        on_repair: Callable[[str | None], None] | None = None,
    ) -> None:
        self._schemas = schemas
        self._validators: dict[str, Any] = {}
        self._calls: dict[int, _Call] = {}
        self.metrics = metrics
        self.on_repair = on_repair
        self.repairs = 0

    def start(self, key: int, *, name: str | None = None, id: str | None = None) -> None:
        """Open a call (a fresh one replaces an unfinished call under the same key)."""
        self._calls[key] = _Call(name, id)

    def __contains__(self, key: object) -> bool:
        return key in self._calls

    @property
    def open_keys(self) -> list[int]:
        """Keys of the calls not yet closed, in order."""
        return sorted(self._calls)

    def feed(self, key: int, fragment: str) -> AssembledArguments | None:
        """Add a fragment; the call's arguments when this fragment made them whole, else None.

        A key never started is opened without a name. Text after a whole value is ignored.
        """
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _Call(None, None)
        if call.closed_at >= 0:
            return None
        closed = call.scan(fragment)
        if closed < 0:
            call.parts.append(fragment)
            return None
        call.parts.append(fragment[:closed])
        call.closed_at = closed
        text = "".join(call.parts)
        value = _loads(text)
        if not isinstance(value, dict):
            return None  # not valid JSON (or not an object): left to ``close`` to repair
        call.result = self._result(key, call, value, repaired=False)
        return call.result

    def feed_anthropic(self, event: Mapping[str, Any]) -> AssembledArguments | None:
        """Take one Anthropic stream event: tool block starts and ``input_json_delta`` fragments."""
        kind = event.get("type")
        index = event.get("index")
        if not isinstance(index, int):
            return None
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") in _TOOL_BLOCKS:
                self.start(index, name=block.get("name"), id=block.get("id"))
        elif kind == "content_block_delta" and index in self._calls:
            delta = event.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                return self.feed(index, delta.get("partial_json") or "")
        return None

    def feed_openai(self, chunk: Mapping[str, Any]) -> list[AssembledArguments]:
        """Take one Chat Completions chunk; the calls its argument pieces made whole."""
        done: list[AssembledArguments] = []
        for choice in chunk.get("choices") or ():
            for delta in (choice.get("delta") or {}).get("tool_calls") or ():
                index = delta.get("index")
                if not isinstance(index, int):
                    continue
                function = delta.get("function") or {}
                if index not in self._calls or delta.get("id"):
                    self.start(index, name=function.get("name"), id=delta.get("id"))
                piece = function.get("arguments")
                if piece:
                    result = self.feed(index, piece)
                    if result is not None:
                        done.append(result)
        return done

    def close(self, key: int) -> AssembledArguments:
        """End a call: its whole arguments, or (last resort, counted) its text repaired."""
        call = self._calls.pop(key, None)
        if call is None:
            call = _Call(None, None)
        if call.result is not None:
            return call.result
        return self._settle(key, call)

    def finish(self) -> list[AssembledArguments]:
        """Close every call still open, in key order: whole ones as they were, unfinished ones repaired."""
        results = [
            call.result if call.result is not None else self._settle(key, call)
            for key, call in sorted(self._calls.items())
        ]
        self._calls.clear()
        return results

    def _settle(self, key: int, call: _Call) -> AssembledArguments:
        text = "".join(call.parts)
        if not text.strip():
            return self._result(key, call, {}, repaired=False)
        value = _loads(text)
        if isinstance(value, dict):
            return self._result(key, call, value, repaired=False)
        self.repairs += 1
        if self.metrics is not None:
            self.metrics.repaired(call.name)
        if self.on_repair is not None:
            self.on_repair(call.name)
        try:
            value = parse_partial_json(text)
        except ValueError:
            value = None
        return self._result(key, call, value if isinstance(value, dict) else {}, repaired=True)

    def _result(self, key: int, call: _Call, value: dict[str, Any], *, repaired: bool) -> AssembledArguments:
        validator = self._validator(call.name)
        problem = None
        if validator is not None and not validator.is_valid(value):
            problem = schema_message(validator, value)
        try:
            text = orjson.dumps(value).decode()
        except TypeError:  # integers past 64 bits, which json.loads accepted
            text = json.dumps(value, separators=(",", ":"))
        return AssembledArguments(key, call.id, call.name, value, text, repaired, problem)

    def _validator(self, name: str | None) -> Any:
        if name is None or self._schemas is None:
            return None
        validator = self._validators.get(name)
        if validator is None:
            schema: Mapping[str, Any] | None
            if isinstance(self._schemas, ToolRegistry):
                item = self._schemas.get(name)
                schema = item.input_schema if item is not None else None
            else:
                schema = self._schemas.get(name)
            if schema is None:
                return None
            validator = self._validators[name] = jsonschema_rs.validator_for(dict(schema))
        return validator


def _loads(text: str) -> Any:
    """The parsed text, or None when it is not valid JSON (orjson first; json for huge integers)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return None

"""OpenAI Responses request (``POST /v1/responses``) -> Anthropic Messages request.

Every parameter is either carried over, answered by the gateway itself (``store``,
``previous_response_id``, ``include``, ``metadata``: see the Responses surface), or refused with
a ``TranslationError`` naming it: hosted tools, background runs, saved prompts, conversations
and truncation the gateway cannot perform are never silently dropped.

``reasoning.effort`` becomes an Anthropic ``thinking`` budget (``REASONING_BUDGETS``). OpenAI's
``max_output_tokens`` counts reasoning tokens, as Anthropic's ``max_tokens`` counts thinking, so
the budget is kept below it; without ``max_output_tokens`` the answer gets the default limit on
top of the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claudegate.translate._errors import fail
from claudegate.translate._reasoning import EFFORT_BUDGETS
from claudegate.translate._responses_input import append_message, check_pairs, input_to_messages

__all__ = ["REASONING_BUDGETS", "responses_request_to_messages"]

REASONING_BUDGETS: dict[str, int] = EFFORT_BUDGETS
"""Thinking budget (tokens) per ``reasoning.effort``: the Chat Completions mapping, one table for both
dialects (``none`` turns thinking off). A ``reasoning`` object with a ``summary`` but no effort thinks
at ``medium``, OpenAI's default for reasoning models."""

_MIN_BUDGET = 1024  # Anthropic's smallest thinking budget
_SUMMARIES = frozenset({"auto", "concise", "detailed"})
_INCLUDABLE = frozenset({"reasoning.encrypted_content"})
# Fields the response object repeats (some without effect on the answer: caching hints, ids for
# abuse tracking), checked so that what is repeated has the documented type.
_ECHOED: tuple[tuple[str, type, str], ...] = (
    ("prompt_cache_key", str, "a string"),
    ("prompt_cache_retention", str, "a string"),
    ("prompt_cache_options", dict, "an object"),
    ("safety_identifier", str, "a string"),
    ("user", str, "a string"),
    ("max_tool_calls", int, "an integer"),
    ("parallel_tool_calls", bool, "a boolean"),
    ("stream", bool, "a boolean"),
)
_REFUSED = {
    "conversation": "conversations are not kept by this gateway: use previous_response_id",
    "prompt": "saved prompts cannot be served: send instructions and input",
    "context_management": "server-side context management is not available: trim the input instead",
    "moderation": "moderation is not available on this gateway",
}


def responses_request_to_messages(
    body: dict[str, Any],
    *,
    history: Sequence[dict[str, Any]] = (),
    default_max_tokens: int = 4096,
) -> dict[str, Any]:
    """Translate a Responses request into an Anthropic Messages request.

    ``history`` is the conversation ``previous_response_id`` points at (canonical messages, its
    instructions not included, as OpenAI does not carry them over); the new ``input`` items follow
    it. ``instructions`` and system/developer messages become ``system``. Raises
    ``TranslationError`` naming the field for anything that cannot be served.

    >>> responses_request_to_messages({"model": "claude-x", "input": "Hi"})["messages"]
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}]
    """
    _refuse_unsupported(body)
    system, new = input_to_messages(body.get("input", []))
    messages = [dict(message) for message in history]
    for message in new:
        append_message(messages, message["role"], message["content"])
    if not messages:
        raise fail("input", "must hold at least one message (or continue a previous_response_id)")
    check_pairs(messages)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise fail("instructions", "must be a string")
    if instructions:
        system.insert(0, instructions)

    result: dict[str, Any] = {}
    if "model" in body:
        result["model"] = body["model"]
    budget = _thinking_budget(body.get("reasoning"))
    result["max_tokens"] = _max_tokens(body, default_max_tokens, budget)
    if system:
        result["system"] = "\n".join(system)
    result["messages"] = messages
    if budget:
        result["thinking"] = {"type": "enabled", "budget_tokens": min(budget, result["max_tokens"] - 1)}
    _sampling(body, result, thinking=bool(budget))
    _tools(body, result)
    output_format = _text_format(body.get("text"))
    if output_format is not None:
        result["output_config"] = {"format": output_format}
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        result["metadata"] = {"user_id": user}
    if isinstance(body.get("stream"), bool):
        result["stream"] = body["stream"]
    return result


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, why in _REFUSED.items():
        if body.get(name) is not None:
            raise fail(name, why)
    if body.get("background"):
        raise fail("background", "background responses are not available: use stream or jobs")
    if body.get("truncation") not in (None, "disabled"):
        raise fail("truncation", "only 'disabled' is available: the gateway does not drop input items")
    top_logprobs = body.get("top_logprobs")
    if top_logprobs not in (None, 0):
        raise fail("top_logprobs", "log probabilities are not available from Claude")
    if body.get("service_tier") not in (None, "auto", "default"):
        raise fail("service_tier", "only 'auto' and 'default' are available")
    include = body.get("include")
    if include is not None:
        if not isinstance(include, list):
            raise fail("include", "must be an array")
        for i, value in enumerate(include):
            if not isinstance(value, str) or value not in _INCLUDABLE:
                raise fail(f"include[{i}]", f"{value!r} is not available: only {sorted(_INCLUDABLE)}")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise fail("metadata", "must be an object of string values")
    for name, kind, what in _ECHOED:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise fail(name, f"must be {what}")


def _thinking_budget(reasoning: Any) -> int:
    if reasoning is None:
        return 0
    if not isinstance(reasoning, dict):
        raise fail("reasoning", "must be an object")
    effort = reasoning.get("effort")
    summary = reasoning.get("summary", reasoning.get("generate_summary"))
    if summary is not None and (not isinstance(summary, str) or summary not in _SUMMARIES):
        raise fail("reasoning.summary", f"must be one of {sorted(_SUMMARIES)}")
    if effort is None:
        return REASONING_BUDGETS["medium"] if summary is not None else 0
    if effort == "none":
        return 0
    if effort not in REASONING_BUDGETS:
        raise fail("reasoning.effort", f"must be 'none' or one of {list(REASONING_BUDGETS)}")
    return REASONING_BUDGETS[effort]


def _max_tokens(body: dict[str, Any], default: int, budget: int) -> int:
    value = body.get("max_output_tokens")
    if value is None:
        return default + budget
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise fail("max_output_tokens", "must be a positive integer")
    if budget and value <= _MIN_BUDGET:
        raise fail(
            "max_output_tokens",
            f"must be more than {_MIN_BUDGET} with reasoning (Claude's smallest thinking budget)",
        )
    return value


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise fail(key, "must be a number")
    return float(value)


def _sampling(body: dict[str, Any], result: dict[str, Any], *, thinking: bool) -> None:
    temperature = _number(body, "temperature")
    top_p = _number(body, "top_p")
    if thinking and temperature is not None and temperature != 1:
        raise fail("temperature", "cannot be set with reasoning: Claude thinks at temperature 1 only")
    if thinking and top_p is not None and top_p < 0.95:
        raise fail("top_p", "must be at least 0.95 with reasoning")
    if temperature is not None:
        result["temperature"] = min(temperature, 1.0)
    if top_p is not None:
        result["top_p"] = top_p


def _tools(body: dict[str, Any], result: dict[str, Any]) -> None:
    tools = body.get("tools")
    converted: list[dict[str, Any]] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise fail("tools", "must be an array")
        converted = [_tool(tool, f"tools[{j}]") for j, tool in enumerate(tools)]
    choice = _tool_choice(body.get("tool_choice"), {tool["name"] for tool in converted})
    if not converted:
        return
    result["tools"] = converted
    if body.get("parallel_tool_calls") is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        result["tool_choice"] = choice


def _tool(tool: Any, field: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise fail(field, "must be an object")
    kind = tool.get("type")
    if kind != "function":
        raise fail(
            f"{field}.type",
            f"the hosted tool {kind!r} cannot be served by this gateway: only function tools are",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{field}.name", "must be a non-empty string")
    entry: dict[str, Any] = {"name": name}
    description = tool.get("description")
    if isinstance(description, str) and description:
        entry["description"] = description
    schema = tool.get("parameters")
    if schema is None:
        schema = {"type": "object", "properties": {}}
    elif not isinstance(schema, dict):
        raise fail(f"{field}.parameters", "must be a JSON Schema object")
    entry["input_schema"] = schema if "type" in schema else {"type": "object", **schema}
    return entry


def _tool_choice(choice: Any, names: set[str]) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "none" or choice == "auto":
        return {"type": choice} if names else None
    if choice == "required":
        converted: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if not isinstance(name, str) or name not in names:
            raise fail("tool_choice.name", "must name one of the function tools")
        converted = {"type": "tool", "name": name}
    else:
        raise fail("tool_choice", 'must be "none", "auto", "required" or {"type": "function", "name": ...}')
    if not names:
        raise fail("tool_choice", "requires function tools")
    return converted


def _text_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise fail("text", "must be an object")
    if text.get("verbosity") not in (None, "medium"):
        raise fail("text.verbosity", "only 'medium' is available")
    spec = text.get("format")
    if spec is None:
        return None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_schema", "schema": {"type": "object"}}
    if kind != "json_schema":
        raise fail("text.format.type", "must be 'text', 'json_object' or 'json_schema'")
    assert isinstance(spec, dict)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise fail("text.format.name", "must be a non-empty string")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise fail("text.format.schema", "must be a JSON Schema object")
    return {"type": "json_schema", "schema": schema}

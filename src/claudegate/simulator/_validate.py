"""Request validation with the live API's error shapes: the field path first, then what is wrong.

Paths use the API's dotted style (``messages.2.content.0.text``). Everything the simulator needs
to answer is checked; fields it does not use are accepted as they come, as the API accepts newer
fields. ``tool_use`` ids must be unique across the conversation, and tool schemas (and an
``output_config.format`` schema) must be ones the simulator can invent values for (see
``_tool_schemas``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from claudegate.simulator._errors import fail
from claudegate.simulator._text import sign_thinking
from claudegate.simulator._tool_schemas import check_tool_schema

__all__ = ["validate_request"]

_ROLES = ("user", "assistant", "system")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CHOICES = ("auto", "any", "tool", "none")
_THINKING = ("enabled", "disabled", "adaptive")
MAX_CACHE_BREAKPOINTS = 4
_BOTH_SAMPLERS = "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
_UNSET = -1
"""What ``top_k`` and ``top_p`` take to mean "not set" (the legacy API's default, still accepted)."""
_EMPTY_CONTENT = (
    "messages: all messages must have non-empty content except for the optional final assistant message"
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_str(container: Mapping[str, Any], key: str, path: str) -> str:
    if key not in container:
        fail(f"{path}.{key}: Field required")
    value = container[key]
    if not isinstance(value, str):
        fail(f"{path}.{key}: Input should be a valid string")
    return value


def _check_text_blocks(value: Any, path: str) -> int:
    """A system prompt given as blocks: each a text block. Returns its cache breakpoints."""
    if not isinstance(value, list):
        fail(f"{path}: Input should be a valid string or list")
    marks = 0
    for index, block in enumerate(value):
        if not isinstance(block, Mapping):
            fail(f"{path}.{index}: Input should be a valid dictionary")
        if block.get("type") != "text":
            fail(f"{path}.{index}.type: Input should be 'text'")
        if not _require_str(block, "text", f"{path}.{index}"):
            fail(f"{path}: text content blocks must be non-empty")
        marks += "cache_control" in block
    return marks


class _MessageChecker:
    def __init__(self, verify_signatures: bool) -> None:
        self.verify_signatures = verify_signatures
        self.marks = 0
        self.tool_ids: set[str] = set()

    def check(self, messages: Any) -> None:
        if not isinstance(messages, list):
            fail("messages: Input should be a valid list")
        if not messages:
            fail("messages: at least one message is required")
        pending: list[str] = []
        pending_at = 0
        last = len(messages) - 1
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping):
                fail(f"messages.{index}: Input should be a valid dictionary")
            role = message.get("role")
            if role not in _ROLES:
                fail(f"messages.{index}.role: Input should be 'user' or 'assistant'")
            if "content" not in message:
                fail(f"messages.{index}.content: Field required")
            blocks = self._blocks(
                message["content"], index, final_assistant=index == last and role == "assistant"
            )
            results = [block["tool_use_id"] for block in blocks if block.get("type") == "tool_result"]
            if pending:
                missing = [tool_id for tool_id in pending if tool_id not in results]
                if missing:
                    fail(
                        f"messages.{pending_at + 1}: `tool_use` ids were found without `tool_result` blocks "
                        f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                        "corresponding `tool_result` block in the next message."
                    )
            for position, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block["tool_use_id"] not in pending:
                    fail(
                        f"messages.{index}.content.{position}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
            pending = (
                [block["id"] for block in blocks if block.get("type") == "tool_use"] if index < last else []
            )
            pending_at = index

    def _blocks(self, content: Any, index: int, *, final_assistant: bool) -> list[Mapping[str, Any]]:
        path = f"messages.{index}.content"
        if isinstance(content, str):
            if not content and not final_assistant:
                fail(_EMPTY_CONTENT)
            return []
        if not isinstance(content, list):
            fail(f"{path}: Input should be a valid string or list")
        if not content and not final_assistant:
            fail(_EMPTY_CONTENT)
        for position, block in enumerate(content):
            self._block(block, f"{path}.{position}")
        return content

    def _block(self, block: Any, path: str) -> None:
        if not isinstance(block, Mapping):
            fail(f"{path}: Input should be a valid dictionary")
        kind = block.get("type")
        if not isinstance(kind, str):
            fail(f"{path}.type: Field required")
        self.marks += "cache_control" in block
        if kind == "text":
            if not _require_str(block, "text", path):
                fail("messages: text content blocks must be non-empty")
        elif kind == "tool_use":
            tool_id = _require_str(block, "id", path)
            if tool_id in self.tool_ids:
                fail(f"{path}: `tool_use` ids must be unique")
            self.tool_ids.add(tool_id)
            _require_str(block, "name", path)
            if not isinstance(block.get("input"), Mapping):
                fail(f"{path}.input: Input should be a valid dictionary")
        elif kind == "tool_result":
            _require_str(block, "tool_use_id", path)
            content = block.get("content", "")
            if not isinstance(content, (str, list)):
                fail(f"{path}.content: Input should be a valid string or list")
        elif kind == "search_result":
            _check_search_result(block, path)
        elif kind == "thinking":
            thinking = _require_str(block, "thinking", path)
            signature = _require_str(block, "signature", path)
            if self.verify_signatures and signature != sign_thinking(thinking):
                fail(f"{path}: Invalid `signature` in `thinking` block")


def _check_search_result(block: Mapping[str, Any], path: str) -> None:
    """A ``search_result`` block: ``source``, ``title``, ``content`` of text blocks, ``citations``."""
    _require_str(block, "source", path)
    _require_str(block, "title", path)
    if "content" not in block:
        fail(f"{path}.content: Field required")
    content = block["content"]
    if not isinstance(content, list) or not content:
        fail(f"{path}.content: List should have at least 1 item after validation")
    _check_text_blocks(content, f"{path}.content")
    citations = block.get("citations")
    if citations is not None and (
        not isinstance(citations, Mapping) or not isinstance(citations.get("enabled", False), bool)
    ):
        fail(f"{path}.citations.enabled: Input should be a valid boolean")


def _check_tools(request: Mapping[str, Any]) -> tuple[list[str], int]:
    tools = request.get("tools")
    if tools is None:
        return [], 0
    if not isinstance(tools, list):
        fail("tools: Input should be a valid list")
    names: list[str] = []
    marks = 0
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            fail(f"tools.{index}: Input should be a valid dictionary")
        marks += "cache_control" in tool
        name = _require_str(tool, "name", f"tools.{index}")
        if tool.get("type", "custom") == "custom":
            if not _TOOL_NAME.match(name):
                fail(f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            if not isinstance(tool.get("input_schema"), Mapping):
                fail(f"tools.{index}.custom.input_schema: Field required")
            check_tool_schema(tool["input_schema"], f"tools.{index}.custom.input_schema")
        if name in names:
            fail("tools: Tool names must be unique.")
        names.append(name)
    return names, marks


def _check_tool_choice(request: Mapping[str, Any], names: list[str]) -> None:
    choice = request.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, Mapping) or choice.get("type") not in _CHOICES:
        fail("tool_choice: Input should be an object with type 'auto', 'any', 'tool' or 'none'")
    if choice["type"] == "tool":
        name = _require_str(choice, "name", "tool_choice")
        if name not in names:
            fail(f"tool_choice.name: tool {name!r} was not found in the tools list")
    elif choice["type"] == "any" and not names:
        fail("tool_choice: tool_choice may only be specified while providing tools.")


def _check_sampling(request: Mapping[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        if key in request and request[key] is not None:
            if not _is_number(request[key]):
                fail(f"{key}: Input should be a valid number")
            if not 0 <= request[key] <= 1 and not (key == "top_p" and request[key] == _UNSET):
                fail(f"{key}: Input should be between 0 and 1")
    top_k = request.get("top_k")
    if top_k is not None and (not _is_int(top_k) or (top_k < 0 and top_k != _UNSET)):
        fail("top_k: Input should be a non-negative integer")
    stops = request.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list):
            fail("stop_sequences: Input should be a valid list")
        for index, stop in enumerate(stops):
            if not isinstance(stop, str):
                fail(f"stop_sequences.{index}: Input should be a valid string")
    if "stream" in request and not isinstance(request["stream"], bool):
        fail("stream: Input should be a valid boolean")
    if "metadata" in request and not isinstance(request["metadata"], (Mapping, type(None))):
        fail("metadata: Input should be a valid dictionary")


def _check_thinking(request: Mapping[str, Any], max_tokens: int | None) -> None:
    thinking = request.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, Mapping) or thinking.get("type") not in _THINKING:
        fail("thinking: Input should be an object with type 'enabled', 'disabled' or 'adaptive'")
    if thinking["type"] != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        fail("thinking.enabled.budget_tokens: Field required")
    if not _is_int(budget):
        fail("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        fail("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens is not None and budget >= max_tokens:
        fail("max_tokens: must be greater than thinking.budget_tokens")


def _check_output_config(request: Mapping[str, Any]) -> None:
    config = request.get("output_config")
    if config is None:
        return
    if not isinstance(config, Mapping):
        fail("output_config: Input should be a valid dictionary")
    output_format = config.get("format")
    if output_format is None:
        return
    if not isinstance(output_format, Mapping) or output_format.get("type") != "json_schema":
        fail("output_config.format: Input should be an object with type 'json_schema'")
    if not isinstance(output_format.get("schema"), Mapping):
        fail("output_config.format.schema: Field required")
    # The reply's text is invented from the schema, so it must be one the simulator can follow.
    check_tool_schema(output_format["schema"], "output_config.format.schema")


def _check_max_tokens(request: Mapping[str, Any], model_max: int) -> int:
    if "max_tokens" not in request:
        fail("max_tokens: Field required")
    max_tokens = request["max_tokens"]
    if not _is_int(max_tokens):
        fail("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        fail("max_tokens: Input should be greater than or equal to 1")
    if max_tokens > model_max:
        fail(
            f"max_tokens: {max_tokens} > {model_max}, which is the maximum allowed number of output tokens "
            f"for {request['model']}"
        )
    return int(max_tokens)


def validate_request(
    request: Any,
    *,
    models: Mapping[str, tuple[str, int]],
    count_only: bool = False,
    verify_signatures: bool = True,
    exclusive_sampling: Collection[str] = (),
) -> str:
    """Check a Messages (or ``count_tokens``) request; return the model's id or raise the API's error.

    ``models`` maps every accepted model name to ``(id, max output tokens)``; the models named in
    ``exclusive_sampling`` refuse ``temperature`` and ``top_p`` together.
    """
    if not isinstance(request, Mapping):
        fail("Input should be a valid dictionary")
    if "model" not in request:
        fail("model: Field required")
    if not isinstance(request["model"], str):
        fail("model: Input should be a valid string")
    max_tokens = None if count_only else _check_max_tokens(request, 1 << 62)
    if "messages" not in request:
        fail("messages: Field required")
    system = request.get("system")
    marks = 0
    if system is not None and not isinstance(system, str):
        marks += _check_text_blocks(system, "system")
    checker = _MessageChecker(verify_signatures)
    checker.check(request["messages"])
    names, tool_marks = _check_tools(request)
    _check_tool_choice(request, names)
    _check_sampling(request)
    _check_thinking(request, max_tokens)
    _check_output_config(request)
    found = marks + tool_marks + checker.marks
    if found > MAX_CACHE_BREAKPOINTS:
        fail(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
        )
    model = models.get(request["model"])
    if model is None:
        fail(f"model: {request['model']}", status=404, error_type="not_found_error")
    if max_tokens is not None:
        _check_max_tokens(request, model[1])
        if request.get("temperature") is not None and request.get("top_p") is not None:
            if request["model"] in exclusive_sampling:
                fail(_BOTH_SAMPLERS)
    return model[0]

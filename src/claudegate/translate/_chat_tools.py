"""OpenAI tools, tool_choice and response_format -> Anthropic tools and tool_choice."""

from __future__ import annotations

from typing import Any

from claudegate.translate._errors import fail
from claudegate.translate._parts import cache_control_of

__all__ = ["convert_tools", "response_format_tool_name"]

_JSON_OBJECT_TOOL = "json_object"


def response_format_tool_name(body: dict[str, Any]) -> str | None:
    """The name of the tool ``chat_request_to_messages`` forces for ``body``'s ``response_format``.

    Only formats Claude's structured outputs cannot express take a tool: ``json_object`` (the tool
    ``"json_object"``) and a ``json_schema`` without a ``schema`` (the tool named as the format).
    None otherwise: plain text, and a ``json_schema`` with its schema, which becomes
    ``output_config.format`` and comes back as the text itself.
    """
    response_format = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return _JSON_OBJECT_TOOL
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or spec.get("schema") is not None:
            return None
        name = spec.get("name")
        return name if isinstance(name, str) and name else None
    return None


def convert_tools(body: dict[str, Any], result: dict[str, Any]) -> None:
    """Set ``tools`` and ``tool_choice`` of ``result`` from an OpenAI request ``body``."""
    tools = _tools(body.get("tools"))
    choice = _tool_choice(body.get("tool_choice"), bool(tools))
    response_tool = _response_tool(body.get("response_format"), tools)
    if response_tool is not None:
        name = response_tool["name"]
        if not tools or (choice is not None and choice["type"] == "none"):
            choice = {"type": "tool", "name": name}
        elif choice is None or choice["type"] == "auto":
            # The model may still call the client's tools, but must answer through the format tool.
            choice = {"type": "any"}
        tools.append(response_tool)
    if not tools:
        return
    result["tools"] = tools
    if body.get("parallel_tool_calls") is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        result["tool_choice"] = choice


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise fail("tools", "must be an array")
    converted = []
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise fail(f"tools[{j}].type", "only function tools can be sent to Claude")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise fail(f"tools[{j}].function", "must be an object")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise fail(f"tools[{j}].function.name", "must be a non-empty string")
        entry: dict[str, Any] = {"name": name}
        description = function.get("description")
        if isinstance(description, str) and description:
            entry["description"] = description
        entry["input_schema"] = _schema(function.get("parameters"), f"tools[{j}].function.parameters")
        # A cache breakpoint may sit on the tool or inside its function, as clients differ.
        for where, holder in ((f"tools[{j}]", tool), (f"tools[{j}].function", function)):
            if "cache_control" in holder:
                entry["cache_control"] = cache_control_of(holder["cache_control"], f"{where}.cache_control")
        converted.append(entry)
    return converted


def _schema(schema: Any, field: str) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise fail(field, "must be a JSON Schema object")
    # Anthropic requires an explicit object schema; OpenAI accepts one without "type".
    return schema if "type" in schema else {"type": "object", **schema}


def _tool_choice(choice: Any, has_tools: bool) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "none" or choice == "auto":
        return {"type": choice} if has_tools else None
    if choice == "required":
        converted: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise fail("tool_choice.function.name", "must be a non-empty string")
        converted = {"type": "tool", "name": name}
    else:
        raise fail("tool_choice", 'must be "none", "auto", "required" or {"type": "function", ...}')
    if not has_tools:
        raise fail("tool_choice", "requires tools")
    return converted


def _response_tool(response_format: Any, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The forced tool for a format structured outputs cannot express (``response_format_tool_name``).

    The caller has validated ``response_format`` (``output_format_of_response_format``).
    """
    name = response_format_tool_name({"response_format": response_format})
    if name is None:
        return None
    description = "Give your response as a JSON object."
    field = "response_format.type"
    if response_format.get("type") == "json_schema":
        given = response_format["json_schema"].get("description")
        description = given if isinstance(given, str) and given else description
        field = "response_format.json_schema.name"
    if any(existing["name"] == name for existing in tools):
        raise fail(field, f"clashes with the tool named {name!r}")
    return {"name": name, "description": description, "input_schema": {"type": "object"}}

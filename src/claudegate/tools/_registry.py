"""The set of tools offered to the model, and its exports (Anthropic, OpenAI, OpenAPI 3.1)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from claudegate.errors import UserError
from claudegate.tools._tool import Tool

__all__ = ["ToolRegistry"]


def _rewrite_refs(node: Any, prefix: str) -> Any:
    """Point ``#/$defs/X`` at ``#/components/schemas/<prefix>X`` (OpenAPI resolves from the root)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + prefix + value.removeprefix("#/$defs/")
            elif key != "$defs":
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node


class ToolRegistry:
    """Tools by name; refuses a second tool with a name already taken.

    >>> registry = ToolRegistry([get_weather, run_sql])
    >>> client.messages.create(..., tools=registry.to_anthropic())
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool) -> Tool:
        """Register a tool (returned, so this works as a decorator on ``Tool`` objects)."""
        if not isinstance(item, Tool):
            raise UserError(f"expected a Tool, got {type(item).__name__}: decorate the function with @tool")
        if item.name in self._tools:
            raise UserError(f"a tool named {item.name!r} is already registered", field="name")
        self._tools[item.name] = item
        return item

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._tools)

    def to_anthropic(self) -> list[dict[str, Any]]:
        """The ``tools`` parameter of a Messages request."""
        return [item.to_anthropic() for item in self._tools.values()]

    def to_openai(self) -> list[dict[str, Any]]:
        """The ``tools`` parameter of a Chat Completions request."""
        return [item.to_openai() for item in self._tools.values()]

    def to_openapi(self, *, title: str = "claudegate tools", version: str = "1.0.0") -> dict[str, Any]:
        """An OpenAPI 3.1 document: one ``POST /tools/<name>`` per tool, arguments as the JSON body."""
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        for item in self._tools.values():
            prefix = f"{item.name}.".replace("-", "_")
            result_defs = item.output.schema.get("$defs", {}) if item.output is not None else {}
            for def_name, definition in {**item.input_schema.get("$defs", {}), **result_defs}.items():
                schemas[prefix + def_name] = _rewrite_refs(copy.deepcopy(definition), prefix)
            result_schema: dict[str, Any] = item.output.schema if item.output is not None else {}
            paths[f"/tools/{item.name}"] = {
                "post": {
                    "operationId": item.name,
                    "summary": item.description.split("\n", 1)[0],
                    "description": item.description,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _rewrite_refs(item.input_schema, prefix)}},
                    },
                    "responses": {
                        "200": {
                            "description": "The tool's result.",
                            "content": {"application/json": {"schema": _rewrite_refs(result_schema, prefix)}},
                        },
                        "422": {"description": "The arguments do not fit the input schema."},
                    },
                }
            }
        document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
        }
        if schemas:
            document["components"] = {"schemas": schemas}
        return document

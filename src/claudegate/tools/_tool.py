"""A tool: a typed function (sync or async) the model may call, with its schema and run policy.

>>> @tool(timeout=5)
... async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
...     '''Current weather for a city.
...
...     Args:
...         city: City name, e.g. "Paris".
...         unit: Temperature unit.
...     '''
...     return "sunny, 21°"
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, create_model

from claudegate.errors import UserError
from claudegate.tools._docstrings import parse_docstring
from claudegate.tools._validation import (
    ArgumentsValidator,
    OutputValidator,
    is_plain_json_type,
    pydantic_arguments,
    schema_arguments,
)

__all__ = ["TOOL_NAME_PATTERN", "Tool", "ToolPolicy", "check_tool_name", "tool"]

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What the API accepts as a tool name."""

ToolFunction = Callable[..., Any]


def check_tool_name(name: str) -> str:
    """``name`` when the API accepts it, else a ``UserError`` saying what is allowed."""
    if not isinstance(name, str) or TOOL_NAME_PATTERN.match(name) is None:
        raise UserError(f"tool name {name!r} is invalid: use 1-64 letters, digits, '_' or '-'", field="name")
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolPolicy:
    """How calls of one tool run: timeout (s), local retries on given exception types (first delay in
    s, doubling), cache TTL (s), at most ``max_concurrency`` calls at once."""

    timeout: float | None = None
    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = ()
    retry_delay: float = 0.0
    cache_ttl: float | None = None
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise UserError("timeout must be positive", field="timeout")
        if self.retries < 0:
            raise UserError("retries must be >= 0", field="retries")
        if self.retries and not self.retry_on:
            raise UserError("retries need retry_on: the exception types worth retrying", field="retry_on")
        if self.cache_ttl is not None and self.cache_ttl <= 0:
            raise UserError("cache_ttl must be positive", field="cache_ttl")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise UserError("max_concurrency must be >= 1", field="max_concurrency")


class Tool:
    """One callable tool: name, description, input schema, validator, output check and policy.

    Build it with ``@tool`` (from a typed function) or ``Tool.from_schema`` (from a JSON schema).
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        input_schema: dict[str, Any],
        function: ToolFunction,
        validate_arguments: ArgumentsValidator,
        output: Any = None,
        version: str | None = None,
        policy: ToolPolicy | None = None,
        takes_dict: bool = False,
    ) -> None:
        self.name = check_tool_name(name)
        self.description = description
        self.input_schema = input_schema
        self.function = function
        self.validate_arguments = validate_arguments
        self.is_async = inspect.iscoroutinefunction(function)
        self.output = OutputValidator(output) if output is not None else None
        self.version = version
        self.policy = policy or ToolPolicy()
        self.takes_dict = takes_dict
        """True: ``function(arguments)`` with one dict (``from_schema``); else keyword arguments."""

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, version={self.version!r})"

    def call(self, arguments: Mapping[str, Any]) -> Any:
        """Validate ``arguments`` and call the function (a coroutine for async tools); no policy applied."""
        values = self.validate_arguments(arguments)
        return self.function(values) if self.takes_dict else self.function(**values)

    def to_anthropic(self) -> dict[str, Any]:
        """This tool as an Anthropic ``tools[]`` entry."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def to_openai(self) -> dict[str, Any]:
        """This tool as an OpenAI ``tools[]`` function entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema},
        }

    @classmethod
    def from_schema(
        cls,
        name: str,
        schema: Mapping[str, Any],
        function: Callable[[dict[str, Any]], Any] | Callable[[dict[str, Any]], Awaitable[Any]],
        *,
        description: str = "",
        output_schema: Any = None,
        version: str | None = None,
        policy: ToolPolicy | None = None,
    ) -> Tool:
        """A tool from a raw JSON schema; ``function`` gets the validated arguments as one dict."""
        if schema.get("type") != "object":
            raise UserError("a tool's input schema must have type 'object'", field="schema")
        validate = schema_arguments(schema)
        return cls(
            name=name,
            description=description,
            input_schema=dict(schema),
            function=function,
            validate_arguments=validate,
            output=output_schema,
            version=version,
            policy=policy,
            takes_dict=True,
        )

    @classmethod
    def from_function(
        cls,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        output: Any = None,
        version: str | None = None,
        policy: ToolPolicy | None = None,
    ) -> Tool:
        """A tool from a typed function: schema from the hints, descriptions from the docstring."""
        doc = parse_docstring(function.__doc__)
        hints = get_type_hints(function, include_extras=True)
        fields: dict[str, Any] = {}
        plain = True
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise UserError(
                    f"tool parameter {param.name!r} must be an ordinary keyword parameter", field=param.name
                )
            if param.name not in hints:
                raise UserError(f"tool parameter {param.name!r} needs a type hint", field=param.name)
            annotation = hints[param.name]
            plain = plain and is_plain_json_type(annotation)
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (annotation, Field(default, description=doc.params.get(param.name)))
        model_name = "".join(part.title() for part in function.__name__.split("_")) + "Arguments"
        model: type[BaseModel] = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        validate = schema_arguments(schema) if plain else pydantic_arguments(model)
        return cls(
            name=name or function.__name__,
            description=description if description is not None else doc.description,
            input_schema=schema,
            function=function,
            validate_arguments=validate,
            output=output,
            version=version,
            policy=policy,
        )


@overload
def tool(function: ToolFunction, /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    version: str | None = None,
    output: Any = None,
    timeout: float | None = None,
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (),
    retry_delay: float = 0.0,
    cache_ttl: float | None = None,
    max_concurrency: int | None = None,
) -> Callable[[ToolFunction], Tool]: ...


def tool(
    function: ToolFunction | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    version: str | None = None,
    output: Any = None,
    timeout: float | None = None,
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (),
    retry_delay: float = 0.0,
    cache_ttl: float | None = None,
    max_concurrency: int | None = None,
) -> Tool | Callable[[ToolFunction], Tool]:
    """Turn a typed function into a ``Tool`` (``@tool`` or ``@tool(timeout=..., cache_ttl=...)``).

    ``output`` (a type or a JSON schema), when given, is checked on every result. ``retries``
    re-run the call locally on ``retry_on`` exceptions; ``cache_ttl`` caches successful results by
    name, version and arguments.
    """
    policy = ToolPolicy(
        timeout=timeout,
        retries=retries,
        retry_on=retry_on,
        retry_delay=retry_delay,
        cache_ttl=cache_ttl,
        max_concurrency=max_concurrency,
    )

    def wrap(func: ToolFunction) -> Tool:
        return Tool.from_function(
            func, name=name, description=description, output=output, version=version, policy=policy
        )

    return wrap(function) if function is not None else wrap

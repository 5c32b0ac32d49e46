"""Argument and output validators, built once per tool.

Two ways in: a pydantic model made from a function's signature, or a raw JSON schema compiled by
jsonschema-rs. When every parameter of a typed function is plain JSON (str, int, float, bool,
None, lists, dicts, literals, with schema constraints only) the compiled JSON-schema validator is
used on the hot path, because it is several times faster than building a model; pydantic is kept
for types that need conversion (enums, models, dates) or custom validators.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import jsonschema_rs
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

__all__ = [
    "ArgumentsInvalid",
    "ArgumentsValidator",
    "OutputValidator",
    "is_plain_json_type",
    "pydantic_arguments",
    "schema_arguments",
    "schema_message",
]

_PLAIN = (str, int, float, bool, type(None))


class ArgumentsInvalid(Exception):
    """The model's arguments do not fit the tool's input schema; ``message`` names the field(s)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


ArgumentsValidator = Callable[[Mapping[str, Any]], dict[str, Any]]
"""Checks raw arguments and returns the keyword arguments to call the function with."""


def _metadata_is_plain(metadata: tuple[Any, ...]) -> bool:
    for item in metadata:
        if isinstance(item, FieldInfo):
            if not _metadata_is_plain(tuple(item.metadata)):
                return False
        elif not isinstance(item, annotated_types.BaseMetadata):
            return False
    return True


def is_plain_json_type(annotation: Any) -> bool:
    """True when a value of this type is exactly what JSON decoding gives (no conversion needed)."""
    if annotation is Any:
        return False
    if annotation in _PLAIN:
        return True
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return is_plain_json_type(args[0]) and _metadata_is_plain(args[1:])
    if origin is Literal:
        return all(isinstance(arg, _PLAIN) for arg in args)
    if origin in (Union, types.UnionType):
        return all(is_plain_json_type(arg) for arg in args)
    if origin is list:
        return len(args) == 1 and is_plain_json_type(args[0])
    if origin is dict:
        return len(args) == 2 and args[0] is str and is_plain_json_type(args[1])
    return False


def _path(parts: Any) -> str:
    text = ".".join(str(part) for part in parts)
    return text or "(arguments)"


def schema_message(validator: Any, arguments: Any) -> str:
    """Field-level messages of a compiled schema's errors for ``arguments``, at most five."""
    problems = []
    for error in validator.iter_errors(arguments):
        problems.append(f"{_path(error.instance_path)}: {error.message}")
        if len(problems) == 5:
            break
    return "invalid arguments: " + "; ".join(problems)


def schema_arguments(schema: Mapping[str, Any]) -> ArgumentsValidator:
    """A validator from a JSON schema (compiled once); it returns the arguments unchanged."""
    validator = jsonschema_rs.validator_for(dict(schema))
    is_valid = validator.is_valid

    def validate(arguments: Mapping[str, Any]) -> dict[str, Any]:
        if is_valid(arguments):
            return dict(arguments)
        raise ArgumentsInvalid(schema_message(validator, arguments))

    return validate


def pydantic_message(exc: ValidationError) -> str:
    """Field-level messages of a pydantic validation error, at most five."""
    problems = [f"{_path(error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)[:5]]
    return "invalid arguments: " + "; ".join(problems)


def pydantic_arguments(model: type[BaseModel]) -> ArgumentsValidator:
    """A validator that builds ``model`` and hands its fields (converted values) to the function."""
    validate_python = model.__pydantic_validator__.validate_python
    names = tuple(model.model_fields)

    def validate(arguments: Mapping[str, Any]) -> dict[str, Any]:
        try:
            instance = validate_python(arguments)
        except ValidationError as exc:
            raise ArgumentsInvalid(pydantic_message(exc)) from None
        values = instance.__dict__
        return {name: values[name] for name in names}

    return validate


class OutputValidator:
    """Checks each result against a pydantic type or a JSON schema; ``schema`` is its JSON schema."""

    def __init__(self, output: Any) -> None:
        if isinstance(output, Mapping):
            self.schema: dict[str, Any] = dict(output)
            self._adapter: TypeAdapter[Any] | None = None
            self._validator: Any = jsonschema_rs.validator_for(self.schema)
        else:
            self._adapter = TypeAdapter(output)
            self.schema = self._adapter.json_schema()
            self._validator = None

    def check(self, value: Any) -> Any:
        """The value to serialise, or ``ArgumentsInvalid``-like ``ValueError`` naming the problem."""
        if self._adapter is not None:
            try:
                return self._adapter.validate_python(value)
            except ValidationError as exc:
                problems = [f"{_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)[:5]]
                raise ValueError(
                    "the tool's result does not fit its output schema: " + "; ".join(problems)
                ) from None
        plain = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        if not self._validator.is_valid(plain):
            problems = [f"{_path(e.instance_path)}: {e.message}" for e in self._validator.iter_errors(plain)]
            raise ValueError("the tool's result does not fit its output schema: " + "; ".join(problems[:5]))
        return plain

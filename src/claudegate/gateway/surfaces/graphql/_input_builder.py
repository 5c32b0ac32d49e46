"""Input objects built from their GraphQL values with each field's conversion worked out once.

strawberry converts an input value field by field, resolving each field's type, its GraphQL name
and whether it is a leaf again for every value it converts: about 10 µs a field, so a
``MessageInput`` costs more than the rest of a ``messageStream`` subscription's start. The
``from_input`` hook strawberry offers for building an input type's values is set here, for the
schema's input types, to an ``InputBuilder`` that decides once per type how each field converts (as
it is; a copied list of leaves; a nested input's builder; any other type by strawberry's own
conversion) and then only applies that. It builds what strawberry's conversion would, field for
field: the class called with a ``None`` for each omitted field without a default and the converted
value of each given one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.unset import UNSET

__all__ = ["InputBuilder", "build_inputs_directly"]

_Convert = Callable[[Any, InputContext, str], Any]
"""A field's conversion: (value, the input's context, the field's GraphQL name) -> Python value."""


def _as_is(value: Any, context: InputContext, key: str) -> Any:
    return value


def _list_copy(value: Any, context: InputContext, key: str) -> Any:
    # a copy, as strawberry makes: graphql-core gives every request the same default list
    return None if value is None else value if value is UNSET else list(value)


def _leaf(type_: Any, registry: Mapping[object, Any]) -> bool:
    """Whether strawberry takes values of ``type_`` as they are (its ``_is_leaf_type``, a GlobalID
    excepted: strawberry decodes those)."""
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if type_ is GlobalID:
        return False
    return (
        is_scalar(type_, registry)
        or isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
    )


def _general(type_: Any) -> _Convert:
    def convert(value: Any, context: InputContext, key: str) -> Any:
        return context.convert(value, type_, key)

    return convert


def _nested(builder: InputBuilder, many: bool) -> _Convert:
    def convert(value: Any, context: InputContext, key: str) -> Any:
        if value is None or value is UNSET:
            return value
        if not many:
            return builder(builder.origin, value, _inner(context, key))
        return [
            None if item is None else builder(builder.origin, item, _inner(context, key, index))
            for index, item in enumerate(value)
        ]

    return convert


def _inner(context: InputContext, *keys: str | int) -> InputContext:
    return InputContext(context.info, context.config, context.scalar_registry, (*context.path, *keys))


def _builder_of(type_: Any) -> InputBuilder | None:
    if not has_object_definition(type_):
        return None
    definition = type_.__strawberry_definition__
    hook = definition.from_input
    return hook if isinstance(hook, InputBuilder) and definition.origin is type_ else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    config: object
    scalar_registry: object
    """(held so that the ids keying the plan stay theirs)"""
    nulls: dict[str, None]
    """The keyword arguments of omitted fields without a default."""
    fields: tuple[tuple[str, str, _Convert], ...]
    """(GraphQL name, Python name, conversion) of each field."""


class InputBuilder:
    """``from_input`` of one strawberry input type (see the module docstring)."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        self.origin: type = definition.origin
        self._plans: dict[tuple[int, int], _Plan] = {}

    def _plan(self, context: InputContext) -> _Plan:
        """How to build a value with ``context``'s naming and scalars."""
        definition = self.definition
        nulls = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        }
        fields = []
        for field in definition.fields:
            name = context.config.name_converter.from_field(field)
            fields.append(
                (
                    name,
                    field.python_name,
                    self._conversion(field.resolve_type(type_definition=definition), context),
                )
            )
        return _Plan(context.config, context.scalar_registry, nulls, tuple(fields))

    @staticmethod
    def _conversion(type_: Any, context: InputContext) -> _Convert:
        registry = context.scalar_registry
        if isinstance(type_, StrawberryMaybe):
            return _general(type_)
        inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
        if _leaf(inner, registry):
            return _as_is
        if isinstance(inner, StrawberryList):
            item = inner.of_type
            if _leaf(item, registry):
                return _list_copy
            item = item.of_type if isinstance(item, StrawberryOptional) else item
            nested = _builder_of(item)
            return _nested(nested, many=True) if nested is not None else _general(type_)
        nested = _builder_of(inner)
        return _nested(nested, many=False) if nested is not None else _general(type_)

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        key = (id(context.config), id(context.scalar_registry))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(context)
        kwargs: dict[str, Any] = plan.nulls.copy()
        for name, python_name, convert in plan.fields:
            if name in value:
                kwargs[python_name] = convert(value[name], context, name)
        return cls(**kwargs)


def build_inputs_directly(converter: GraphQLCoreConverter) -> None:
    """Give the input types of a built schema an ``InputBuilder`` (those without a ``from_input``
    of their own and without ``Maybe`` fields, whose nulls strawberry checks itself)."""
    for concrete in list(converter.type_map.values()):
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            continue
        if definition.from_input is not None or definition.is_one_of:
            continue
        if any(isinstance(field.type, StrawberryMaybe) for field in definition.fields):
            continue
        definition.from_input = InputBuilder(definition)

"""Subscription events without a GraphQL execution each, where the answer is known in advance.

graphql-core runs a subscription's selection set once per event: collecting fields, resolving and
completing each (about 100 µs for a handful of scalars), where SSE relays the event as it came.
When the operation selects only leaf fields of the event's object type (a plain attribute each,
with aliases and ``__typename``; no fragments, no directives, nothing nested), this executor
builds each event's ``data`` straight from the event object, with the field list worked out once
per subscription. An event whose values the plan cannot vouch for (a value of another type than
its scalar, a null where the schema forbids it) is executed as usual, and so is every operation
that is not of that shape: the result is what graphql-core would have built, key for key.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from claudegate.gateway.surfaces.graphql._relay import TAKEOVER, Tap

__all__ = ["EventExecutor", "EventPlan", "event_plan", "operation_plan"]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _string(value: Any) -> bool:
    return type(value) is str


def _int(value: Any) -> bool:
    return type(value) is int and _INT_MIN <= value <= _INT_MAX


def _float(value: Any) -> bool:
    return type(value) is float and value == value and value not in (float("inf"), float("-inf"))


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _any(value: Any) -> bool:
    return True


_KNOWN = {
    GraphQLString.name: _string,
    GraphQLID.name: _string,
    GraphQLInt.name: _int,
    GraphQLFloat.name: _float,
    GraphQLBoolean.name: _boolean,
}
"""Scalars whose serialisation leaves a value of the given check as it is."""


def _passes(scalar: GraphQLScalarType) -> Any:
    """The check of values ``scalar`` serialises unchanged (None: none known)."""
    if scalar.name in _KNOWN:
        return _KNOWN[scalar.name]
    probe = object()
    try:
        same = scalar.serialize(probe) is probe
    except Exception:
        same = False
    return _any if same else None  # an identity serialiser (strawberry's JSON scalar) passes anything


@dataclass(frozen=True, slots=True)
class EventPlan:
    """How one subscription's events become ``data``: the root field's response key, the class of
    the events it applies to, and each response key with its attribute, check and nullability."""

    root_key: str
    event_class: type
    type_name: str
    fields: tuple[tuple[str, str | None, Any, bool], ...]

    def data(self, event: Any) -> dict[str, Any] | None:
        """The event's ``data``; None when only an execution can tell."""
        if type(event) is not self.event_class:
            return None
        return self._data(event.__getattribute__)

    def data_of(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``data`` of the event ``event_class(**values)`` would be (``values``: each field by
        attribute name), without making it; None when only an execution can tell."""
        return self._data(values.__getitem__)

    def _data(self, value_of: Callable[[str], Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for key, attribute, check, nullable in self.fields:
            if attribute is None:
                values[key] = self.type_name
                continue
            value = value_of(attribute)
            if value is None:
                if not nullable:
                    return None
            elif not check(value):
                return None
            values[key] = value
        return {self.root_key: values}


def _leaf(field_node: FieldNode, parent: GraphQLObjectType) -> tuple[str | None, Any, bool] | None:
    """(attribute, check, nullable) of a selected leaf field; None when it needs an execution."""
    if field_node.directives or field_node.arguments or field_node.selection_set is not None:
        return None
    name = field_node.name.value
    if name == "__typename":
        return None, _any, False
    definition = parent.fields.get(name)
    if definition is None:
        return None
    field_type = definition.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    if not isinstance(field_type, GraphQLScalarType):
        return None
    check = _passes(field_type)
    source = (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    basic = getattr(definition.resolve, "_is_default", False)  # strawberry's getattr of the field
    if check is None or not basic or not isinstance(source, StrawberryField) or not source.is_basic_field:
        return None
    if source.default_resolver is not getattr:
        return None
    return source.python_name, check, nullable


def event_plan(executor: Executor[Any]) -> EventPlan | None:
    """The plan of a subscription operation whose events it can build (None: execute them)."""
    middleware = executor.middleware_manager
    if middleware is not None and middleware.middlewares:
        return None  # something wraps every resolver: it must see each field
    return operation_plan(executor.schema, executor.operation)


def operation_plan(schema: GraphQLSchema, operation: OperationDefinitionNode) -> EventPlan | None:
    """The plan of ``operation`` over ``schema`` when it is a subscription of the planned shape
    (and no middleware wraps the resolvers)."""
    if operation.operation is not OperationType.SUBSCRIPTION or operation.directives:
        return None
    root_type = schema.subscription_type
    selections = operation.selection_set.selections
    if root_type is None or len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    definition = root_type.fields.get(root.name.value)
    if root.directives or root.selection_set is None or definition is None:
        return None
    event_type = definition.type
    if isinstance(event_type, GraphQLNonNull):
        event_type = event_type.of_type
    source = (event_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(source, "origin", None)
    if not isinstance(event_type, GraphQLObjectType) or not isinstance(origin, type):
        return None
    fields: dict[str, tuple[str, str | None, Any, bool]] = {}
    for selection in root.selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None  # a fragment: executed
        leaf = _leaf(selection, event_type)
        if leaf is None:
            return None
        key = selection.alias.value if selection.alias is not None else selection.name.value
        fields.setdefault(key, (key, *leaf))
    if not fields:
        return None
    root_key = root.alias.value if root.alias is not None else root.name.value
    return EventPlan(root_key, origin, event_type.name, tuple(fields.values()))


_UNPLANNED = object()


class _Built:
    """A subscription event whose result is already built (what ``execute_operation`` gives)."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, building the events of a subscription of the planned shape itself."""

    _plan: Any = _UNPLANNED

    def _planned(self) -> EventPlan | None:
        plan = self._plan
        if plan is _UNPLANNED:
            plan = self._plan = event_plan(self)
        return cast("EventPlan | None", plan)

    def cancellable_iterable(self, iterable: AsyncIterable[Any]) -> AsyncIterable[Any]:
        """The source event stream; a ``Tap`` of it when the transport offers to relay the events
        of a planned subscription (see ``_relay``)."""
        stream = super().cancellable_iterable(iterable)
        takeover = TAKEOVER.get()
        if takeover is None or takeover.tap is not None:
            return stream
        plan = self._planned()
        if plan is None:
            return stream
        takeover.tap = Tap(stream, plan)
        return takeover.tap

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        plan = self._planned()
        if plan is not None:
            data = plan.data(payload)
            if data is not None:
                return cast("Executor[Any]", _Built(ExecutionResult(data=data, errors=None)))
        return super().build_per_event_executor(payload)

"""``messageStream`` subscriptions started without strawberry's operation machinery.

Before its first event, a subscription goes through strawberry's operation: its extensions' hooks
(each a context manager, per operation), the parse and validation steps, a graphql-core executor,
the resolver's wrappers and argument conversion, the result handling — several times what the
events of a short answer cost. ``DirectSubscriptions`` starts a subscription of one common shape
itself: a document this schema has already parsed and validated without errors, whose only
definition is a subscription of one ``messageStream`` field (no directives) whose events
``EventPlan`` builds, over a schema whose extensions are the gateway's own (they act before
execution only; see ``build_schema``).

It checks what the normal path checks, in the same order, and leaves every refusal to the normal
path where that is free of effects: the persisted-only and cost rules, the variables' coercion,
the argument's conversion and the request's own checks only read, so when one of them fails the
operation is handed to strawberry, which answers it as always. The first step with an effect is
the caller's per-minute count (``rate_admission``): its refusal is answered here as the normal
path answers it (an ``error`` message, the error coded by the schema). Then the core stream runs
(``message_event_values``, the resolver's own source), each event's ``data`` is built by the plan
from its fields (no ``MessageEvent`` made), an event the plan cannot vouch for is executed by
graphql-core as the normal path executes it, and an error of the stream ends it as strawberry ends
it: a last result with the error and no data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql.execution import MiddlewareManager
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.execution import ExecutionResult
from strawberry.types.field import StrawberryField

from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._events import EventExecutor, EventPlan, operation_plan
from claudegate.gateway.surfaces.graphql._mutations import message_call
from claudegate.gateway.surfaces.graphql._protection import (
    ValidatedDocuments,
    operation_checks,
    rate_admission,
)
from claudegate.gateway.surfaces.graphql._subscriptions import Subscription, message_event_values
from claudegate.gateway.surfaces.graphql._types import MessageEvent

if TYPE_CHECKING:
    import strawberry
    from graphql.execution import Executor

    from claudegate.gateway.core import Call

__all__ = ["DirectRun", "DirectSubscriptions"]

_RESOLVER: Any = Subscription.message_stream
"""``messageStream``'s resolver, the one the direct path stands in for."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """What one document's direct runs share: its operation and root field, and the event plan."""

    document: DocumentNode
    operation: OperationDefinitionNode
    field_node: FieldNode
    field_def: GraphQLField
    strawberry_field: StrawberryField
    plan: EventPlan


@dataclass(slots=True)
class DirectRun:
    """One subscription, checked and ready to run (see the module docstring)."""

    schema: strawberry.Schema
    shape: _Shape
    context: GraphQLContext
    call: Call
    variables: dict[str, Any] | None
    operation_name: str | None
    root_value: Any
    extensions: dict[str, Any]
    """The extensions of each result (the operation's cost), as strawberry's extensions give them."""
    _executor: Executor[Any] | None = field(default=None, init=False)

    @property
    def plan(self) -> EventPlan:
        return self.shape.plan

    def events(self) -> AsyncGenerator[dict[str, Any], None]:
        """The subscription's source: each event's ``MessageEvent`` fields and ``follows`` (close
        it to cancel the upstream request)."""
        return message_event_values(self.context, self.call)

    async def execute(self, values: dict[str, Any]) -> ExecutionResult:
        """The result of an event the plan does not build (``values``: its fields): graphql-core's
        execution of it, as the normal path executes each event."""
        event = MessageEvent(**values)
        executor = self._executor
        if executor is None:
            built = EventExecutor.build(
                self.schema._schema,
                self.shape.document,
                root_value=self.root_value,
                context_value=self.context,
                raw_variable_values=self.variables,
                operation_name=self.operation_name,
                middleware=MiddlewareManager(),
                operation_extensions=None,
            )
            assert not isinstance(built, list)  # its variables were coerced before
            executor = self._executor = built
        outcome: Any = executor.build_per_event_executor(event).execute_operation(False)
        result: GraphQLExecutionResult = await outcome if executor.is_awaitable(outcome) else outcome
        errors = result.errors
        if errors:
            self.schema._process_errors(errors)
        return ExecutionResult(data=result.data, errors=errors, extensions=self.extensions)

    def failed(self, error: Exception) -> ExecutionResult:
        """The last result of a stream that raised ``error``, as strawberry makes it."""
        graphql_error = (
            error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
        )
        errors = [graphql_error]
        self.schema._process_errors(errors)
        return ExecutionResult(data=None, errors=errors, extensions=self.extensions)

    async def admit(self) -> list[GraphQLError]:
        """Count the operation against its caller (the first step with an effect): [] when
        admitted, else the refusal's errors, coded by the schema."""
        errors = await rate_admission(self.context)
        if errors:
            self.schema._process_errors(errors)
        return errors


class DirectSubscriptions:
    """The direct runs of one schema (see the module docstring), with the shapes of the most
    recent ``size`` documents."""

    def __init__(self, schema: strawberry.Schema, documents: ValidatedDocuments, size: int = 512) -> None:
        self.schema = schema
        self.documents = documents
        self._extensions = list(schema.extensions)
        self._size = size
        self._shapes: OrderedDict[str, _Shape | None] = OrderedDict()

    def prepare(
        self,
        context: GraphQLContext,
        query: str,
        variables: object,
        operation_name: str | None,
        root_value: Any,
    ) -> DirectRun | None:
        """The run of this subscription, or None: strawberry runs it (another shape, a document
        not yet validated, or a check that refuses it)."""
        if not context.authenticated or context.admin or list(self.schema.extensions) != self._extensions:
            return None
        if variables is not None and not isinstance(variables, dict):
            return None
        shape = self._shape(query)
        if shape is None:
            return None
        name = shape.operation.name
        if operation_name is not None and (name is None or name.value != operation_name):
            return None
        try:
            return self._checked(shape, context, query, variables, operation_name, root_value)
        except Exception:  # the normal path meets the same failure, and answers it its way
            return None

    def _checked(
        self,
        shape: _Shape,
        context: GraphQLContext,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        root_value: Any,
    ) -> DirectRun | None:
        settings = context.services.settings
        cost, refusal = operation_checks(settings, query, shape.document, operation_name, variables)
        if refusal is not None or cost is None:
            return None
        schema = self.schema._schema
        coerced = get_variable_values(schema, shape.operation.variable_definitions or (), variables or {}, 50)
        if isinstance(coerced, list):
            return None
        arguments = get_argument_values(shape.field_def, shape.field_node, coerced)
        converted = convert_arguments(
            arguments,
            shape.strawberry_field.arguments,
            self.schema.schema_converter.scalar_registry,
            self.schema.config,
        )
        call = message_call(context, converted["input"], stream=True)
        extensions = {"cost": cost}
        return DirectRun(self.schema, shape, context, call, variables, operation_name, root_value, extensions)

    def _shape(self, query: str) -> _Shape | None:
        if query in self._shapes:
            self._shapes.move_to_end(query)
            return self._shapes[query]
        document = self.documents.valid(query)
        if document is None:
            return None  # not validated yet: strawberry validates it (and it may pass next time)
        shape = self._shapes[query] = self._shape_of(document)
        if len(self._shapes) > self._size:
            self._shapes.popitem(last=False)
        return shape

    def _shape_of(self, document: DocumentNode) -> _Shape | None:
        if len(document.definitions) != 1 or not isinstance(document.definitions[0], OperationDefinitionNode):
            return None
        operation = document.definitions[0]
        root_type = self.schema._schema.subscription_type
        if operation.operation is not OperationType.SUBSCRIPTION or root_type is None:
            return None
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode) or selections[0].directives:
            return None
        field_node = selections[0]
        field_def = root_type.fields.get(field_node.name.value)
        source = (
            (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
        )
        if field_def is None or not isinstance(source, StrawberryField) or source.extensions:
            return None
        resolver = source.base_resolver
        if resolver is None or resolver.wrapped_func is not _RESOLVER:
            return None
        plan = operation_plan(self.schema._schema, operation)
        if plan is None:
            return None
        return _Shape(document, operation, field_node, field_def, source, plan)

"""What an operation must pass before it runs: the document's validation (with the depth and alias
rules), the persisted-only rule, the cost rule, and the caller's per-minute request limit.

Cost: every field costs 1; a field with a ``first`` argument (or a paged field without one, at its
default page) costs 1 plus ``first`` times what is selected under it. An operation costing more
than ``max_cost`` is refused before it runs, its cost and the maximum in the error's
``extensions``. Every operation that passes is counted against the caller's
``requests_per_minute`` (a bucket apart from model calls, as ``count_tokens`` is).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from claudegate.gateway.core import GatewayError
from claudegate.gateway.surfaces.graphql._context import GraphQLContext

__all__ = ["PAGED_FIELDS", "Protection", "document_hash", "operation_cost"]

PAGED_FIELDS = {"jobs": 20, "keys": 20, "batches": 20, "results": 20}
"""Fields that page by ``first``, and the page they give without one."""


def document_hash(query: str) -> str:
    """The persisted-query id of a document: the hex SHA-256 of its text."""
    return hashlib.sha256(query.encode()).hexdigest()


class _Cost:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]) -> None:
        self.fragments = fragments
        self.variables = variables
        self.defaults: dict[str, Any] = {}

    def first(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value, self.defaults.get(value.name.value))
                return given if isinstance(given, int) else None
        return PAGED_FIELDS.get(field.name.value)

    def of(self, selections: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                pages = self.first(selection)
                inner = self.of(selection.selection_set, seen)
                total += 1 + max(1, pages or 1) * inner
            elif isinstance(selection, InlineFragmentNode):
                total += self.of(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    total += self.of(fragment.selection_set, seen | {name})
        return total


def operation_cost(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of ``operation`` (see the module docstring)."""
    cost = _Cost(fragments, variables or {})
    for definition in operation.variable_definitions or ():
        default = definition.default_value
        if isinstance(default, IntValueNode):
            cost.defaults[definition.variable.name.value] = int(default.value)
    return cost.of(operation.selection_set)


def _refusal(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


_VALIDATED: OrderedDict[tuple[int, str], list[GraphQLError]] = OrderedDict()
_VALIDATED_MAX = 512


def _validated(context: ExecutionContext) -> list[GraphQLError]:
    """The validation errors of the document, remembered per schema and text (validating costs more
    than running most operations; a schema's rules follow from its settings alone)."""
    document = context.graphql_document
    assert document is not None
    rules = tuple(context.validation_rules)
    key = (id(context.schema), context.query) if context.query is not None else None
    if key is not None and key in _VALIDATED:
        _VALIDATED.move_to_end(key)
        return list(_VALIDATED[key])
    errors = validate_document(context.schema._schema, document, rules)
    if key is not None:
        _VALIDATED[key] = errors
        if len(_VALIDATED) > _VALIDATED_MAX:
            _VALIDATED.popitem(last=False)
    return list(errors)


class Protection(SchemaExtension):
    """Runs the validation itself, then the persisted-only, cost and rate rules (see the module)."""

    cost: int | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        errors = _validated(context)
        if not errors:
            errors = await self._admit()
        context.pre_execution_errors = errors
        yield

    async def _admit(self) -> list[GraphQLError]:
        context = self.execution_context
        gateway: GraphQLContext = context.context
        settings = gateway.services.settings
        if settings.persisted_only and context.query is not None:
            known = settings.persisted_queries or {}
            if known.get(document_hash(context.query)) != context.query:
                return [_refusal("only persisted queries are accepted here", "PERSISTED_QUERY_NOT_ALLOWED")]
        document = context.graphql_document
        assert document is not None
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = context.operation_name
        operation = next((o for o in operations if name is None or (o.name and o.name.value == name)), None)
        if operation is not None:
            self.cost = operation_cost(operation, fragments, context.variables)
            if self.cost > settings.max_cost:
                return [
                    _refusal(
                        f"the operation costs {self.cost}, more than the {settings.max_cost} allowed",
                        "COST_LIMIT_EXCEEDED",
                        cost=self.cost,
                        maxCost=settings.max_cost,
                    )
                ]
        try:
            principal = gateway.rate_limited_principal
            if principal is not None:
                await gateway.core.admit_operation(principal, "graphql")
        except GatewayError as refusal:
            return [GraphQLError(refusal.message, original_error=refusal)]
        return []

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.cost} if self.cost is not None else {}

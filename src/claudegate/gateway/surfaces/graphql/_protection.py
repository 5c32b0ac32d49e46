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
    DocumentNode,
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

from claudegate.gateway._config import GraphQLSettings
from claudegate.gateway.core import GatewayError
from claudegate.gateway.surfaces.graphql._context import GraphQLContext

__all__ = [
    "PAGED_FIELDS",
    "Protection",
    "ValidatedDocuments",
    "document_hash",
    "operation_checks",
    "operation_cost",
    "rate_admission",
]

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


def _validate(context: ExecutionContext, document: DocumentNode) -> list[GraphQLError]:
    return validate_document(context.schema._schema, document, tuple(context.validation_rules))


class ValidatedDocuments:
    """The validation errors of the documents one schema has seen, by their text (validating costs
    more than running most operations; a schema's rules follow from its settings alone), the
    most recent ``size`` of them."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._seen: OrderedDict[str, tuple[DocumentNode, list[GraphQLError]]] = OrderedDict()

    def errors(self, context: ExecutionContext) -> list[GraphQLError]:
        """The validation errors of ``context``'s document (a copy: callers may add to it)."""
        document = context.graphql_document
        assert document is not None
        query = context.query
        if query is None:
            return _validate(context, document)
        seen = self._seen.get(query)
        if seen is not None and seen[0] is document:
            self._seen.move_to_end(query)
            return list(seen[1])
        errors = _validate(context, document)
        self._seen[query] = (document, list(errors))
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return errors

    def valid(self, query: str) -> DocumentNode | None:
        """The document of ``query`` when this schema has parsed and validated it without errors."""
        seen = self._seen.get(query)
        return seen[0] if seen is not None and not seen[1] else None


def operation_checks(
    settings: GraphQLSettings,
    query: str | None,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> tuple[int | None, GraphQLError | None]:
    """(the operation's cost, the refusal of the persisted-only or cost rule), checked before the
    caller is counted; the cost is None when no operation is picked."""
    if settings.persisted_only and query is not None:
        known = settings.persisted_queries or {}
        if known.get(document_hash(query)) != query:
            return None, _refusal("only persisted queries are accepted here", "PERSISTED_QUERY_NOT_ALLOWED")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = operation_name
    operation = next((o for o in operations if name is None or (o.name and o.name.value == name)), None)
    if operation is None:
        return None, None
    cost = operation_cost(operation, fragments, variables)
    if cost > settings.max_cost:
        return cost, _refusal(
            f"the operation costs {cost}, more than the {settings.max_cost} allowed",
            "COST_LIMIT_EXCEEDED",
            cost=cost,
            maxCost=settings.max_cost,
        )
    return cost, None


async def rate_admission(gateway: GraphQLContext) -> list[GraphQLError]:
    """Count the operation against its caller's ``requests_per_minute``: [] when admitted, else
    the refusal."""
    try:
        principal = gateway.rate_limited_principal
        if principal is not None:
            await gateway.core.admit_operation(principal, "graphql")
    except GatewayError as refusal:
        return [GraphQLError(refusal.message, original_error=refusal)]
    return []


class Protection(SchemaExtension):
    """Runs the validation itself, then the persisted-only, cost and rate rules (see the module)."""

    cost: int | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        documents = getattr(context.schema, "documents", None)
        if isinstance(documents, ValidatedDocuments):
            errors = documents.errors(context)
        else:
            errors = _validate(context, context.graphql_document)
        if not errors:
            errors = await self._admit()
        context.pre_execution_errors = errors
        yield

    async def _admit(self) -> list[GraphQLError]:
        context = self.execution_context
        gateway: GraphQLContext = context.context
        assert context.graphql_document is not None
        self.cost, refusal = operation_checks(
            gateway.services.settings,
            context.query,
            context.graphql_document,
            context.operation_name,
            context.variables,
        )
        if refusal is not None:
            return [refusal]
        return await rate_admission(gateway)

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.cost} if self.cost is not None else {}

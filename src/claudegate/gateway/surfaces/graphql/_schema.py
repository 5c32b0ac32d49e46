"""The schema: its types, and the extensions every operation runs through (limits, error codes)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from claudegate.gateway._config import GraphQLSettings
from claudegate.gateway.surfaces.graphql._direct import DirectSubscriptions
from claudegate.gateway.surfaces.graphql._errors import coded_error
from claudegate.gateway.surfaces.graphql._events import EventExecutor
from claudegate.gateway.surfaces.graphql._input_builder import build_inputs_directly
from claudegate.gateway.surfaces.graphql._mutations import Mutation
from claudegate.gateway.surfaces.graphql._protection import Protection, ValidatedDocuments
from claudegate.gateway.surfaces.graphql._queries import Query
from claudegate.gateway.surfaces.graphql._subscriptions import Subscription

__all__ = ["GatewaySchema", "build_schema", "schema_text"]


class GatewaySchema(strawberry.Schema):
    """The schema; every error of every result gets its code here (``coded_error`` logs what is a
    gateway bug, and shows its caller no more than that it happened)."""

    documents: ValidatedDocuments
    """The validation errors of the documents it has seen (``Protection`` fills it)."""
    direct: DirectSubscriptions
    """``messageStream`` subscriptions run past strawberry's operation (``graphql-transport-ws``)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        errors[:] = [coded_error(error) for error in errors]


def build_schema(settings: GraphQLSettings | None = None) -> GatewaySchema:
    """The schema with ``settings``' limits (the defaults without)."""
    settings = settings or GraphQLSettings()
    # Factories, not instances: each operation gets extensions of its own.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(ParserCache, maxsize=512),
        partial(QueryDepthLimiter, max_depth=settings.max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    extensions.append(Protection)
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=EventExecutor,
    )
    build_inputs_directly(schema.schema_converter)
    schema.documents = ValidatedDocuments()
    schema.direct = DirectSubscriptions(schema, schema.documents)
    return schema


def schema_text() -> str:
    """The schema in SDL, as ``docs/schema.graphql`` holds it."""
    text: Any = build_schema().as_str()
    return str(text) + "\n"

"""The GraphQL surface, ``/graphql`` (see ``_surface`` and ``docs/graphql.md``).

Queries, mutations and subscriptions over the same core as every other surface: a GraphQL call is
admitted, limited, billed and recorded like a REST call. HTTP POST and GET, ``graphql-transport-ws``
and ``graphql-ws`` over WebSocket, and GraphQL over SSE (distinct connections).
"""

from __future__ import annotations

from claudegate.gateway.surfaces.graphql._schema import build_schema, schema_text
from claudegate.gateway.surfaces.graphql._surface import PATH, GraphQLSurface

__all__ = ["PATH", "GraphQLSurface", "build_schema", "schema_text"]

"""What ``/graphql`` refuses before it runs: depth, aliases, tokens, cost (with the cost in the
error), introspection when turned off, and documents outside the persisted ones."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.gateway._config import GraphQLSettings
from claudegate.gateway.surfaces.graphql._schema import build_schema
from tests.gateway import _wire
from tests.gateway._graphql import execute, http_session, offline_context, request
from tests.gateway.conftest import Live, serve, simulator_route

PERSISTED = "{ models { id } }"
DEEP = "{ jobs(first: 1) { edges { node { key { limits { concurrentRequests } } } } } }"
DIGEST = hashlib.sha256(PERSISTED.encode()).hexdigest()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = {"max_depth": 4, "max_aliases": 3, "max_tokens": 200, "max_cost": 60}
    database = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('limits') / 'store.db'}"
    config = {
        "models": [simulator_route()],
        "gateway": {"graphql": settings},
        "storage": {"database_url": database},
    }
    with serve(config) as live:
        yield live


async def refusal(live: Live, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with http_session(live.base_url) as session:
        data, errors = await execute(session, document, variables)
    assert data is None and len(errors) == 1, errors
    return errors[0]


async def test_each_limit_refuses_a_crafted_query(limited: Live) -> None:
    deep = await refusal(limited, DEEP)
    aliased = await refusal(limited, "{ a: models { id } b: models { id } c: models { id } d: me { id } }")
    tokens = await refusal(limited, "{ " + " ".join(f"m{n}: me {{ id }}" for n in range(40)) + " }")
    assert deep["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED"}
    assert aliased["extensions"] == {"code": "ALIAS_LIMIT_EXCEEDED"}
    assert tokens["extensions"] == {"code": "TOKEN_LIMIT_EXCEEDED"}


async def test_the_cost_rule_counts_first_and_refuses_before_running(limited: Live) -> None:
    document = "query($n: Int!) { jobs(first: $n) { edges { cursor node { id status } } } }"
    refused = await refusal(limited, document, {"n": 20})
    # 1 (jobs) + 20 × (edges 1 + cursor 1 + node 1 + id 1 + status 1)
    assert refused["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 101, "maxCost": 60}
    async with http_session(limited.base_url) as session:
        result = await session.execute(
            request(document, {"n": 5}),
            get_execution_result=True,
        )
    assert result.data == {"jobs": {"edges": []}} and result.extensions == {"cost": 26}
    default_page = await refusal(limited, "{ jobs { edges { cursor node { id status } } } }")
    assert default_page["extensions"]["cost"] == 101  # no first: the default page of 20


async def test_introspection_can_be_turned_off() -> None:
    query = "{ __schema { queryType { name } } }"
    with serve({"models": [simulator_route()]}) as live:
        async with http_session(live.base_url) as session:
            data, _ = await execute(session, query)
    assert data == {"__schema": {"queryType": {"name": "Query"}}}
    with serve({"models": [simulator_route()], "gateway": {"graphql": {"introspection": False}}}) as live:
        async with http_session(live.base_url) as session:
            data, errors = await execute(session, query)
    assert data is None and errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_persisted_queries_by_hash_and_persisted_only() -> None:
    settings = {"persisted_queries": {DIGEST: PERSISTED}, "persisted_only": True}
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": DIGEST}}
    with serve({"models": [simulator_route()], "gateway": {"graphql": settings}}) as live:
        by_hash = _wire.post(live.base_url, "/graphql", {"extensions": extensions}, {}).json()
        unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        missing = _wire.post(live.base_url, "/graphql", {"extensions": unknown}, {}).json()
        other = _wire.post(live.base_url, "/graphql", {"query": "{ me { kind } }"}, {}).json()
        same = _wire.post(live.base_url, "/graphql", {"query": PERSISTED}, {}).json()
    assert by_hash["data"]["models"] and same["data"] == by_hash["data"]
    assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert other["data"] is None and other["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_each_schema_keeps_its_own_validation_of_a_document() -> None:
    aliased = "{ a: __typename b: __typename c: __typename }"
    strict, default = build_schema(GraphQLSettings(max_aliases=2)), build_schema()
    for _ in range(2):  # the second time from each schema's own record of the document
        refused = await strict.execute(aliased, context_value=offline_context())
        answered = await default.execute(aliased, context_value=offline_context())
        assert refused.errors and refused.errors[0].extensions == {"code": "ALIAS_LIMIT_EXCEEDED"}
        assert answered.errors is None and answered.data == {"a": "Query", "b": "Query", "c": "Query"}
    assert default.documents.valid(aliased) is not None and strict.documents.valid(aliased) is None

"""``/v1/collections`` over a real socket: the documented flow, idempotent documents, metadata
filters, an upstream embedding model, and refusals in OpenAI's envelope naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway import _wire
from tests.gateway.conftest import Live, serve, simulator_route

DOCS = [
    {
        "id": "budgets",
        "text": "A key's budget caps its spending per day and per month.",
        "metadata": {"kind": "money"},
    },
    {
        "id": "sockets",
        "text": "The WebSocket API runs many streams on one connection.",
        "metadata": {"kind": "api"},
    },
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("rag") / "rag.db"
    with serve({"models": [simulator_route()], "retrieval": {"path": str(path)}}) as gateway:
        yield gateway


def _call(live: Live, method: str, path: str, body: dict[str, Any] | None = None) -> _wire.Reply:
    return _wire.call(live.base_url, method, path, body, {"authorization": "Bearer sk"})


def test_create_index_search_delete(live: Live) -> None:
    created = _call(live, "POST", "/v1/collections", {"name": "docs"})
    assert created.status == 200 and created.json()["embedding_model"] == "local"
    added = _call(live, "POST", "/v1/collections/docs/documents", {"documents": DOCS})
    again = _call(live, "POST", "/v1/collections/docs/documents", {"documents": DOCS})
    assert added.json() == again.json() and added.json()["documents"] == 2
    shown = _call(live, "GET", "/v1/collections/docs").json()
    assert (shown["documents"], shown["chunks"], shown["dimensions"]) == (2, 2, 256)
    found = _call(live, "POST", "/v1/collections/docs/search", {"query": "monthly spending cap", "top_k": 2})
    results = found.json()["results"]
    assert [r["document_id"] for r in results] == ["budgets", "sockets"]
    assert results[0]["chunk_id"] == "budgets#0" and results[0]["metadata"] == {"kind": "money"}
    assert results[0]["score"] > results[1]["score"]
    filtered = _call(
        live, "POST", "/v1/collections/docs/search", {"query": "spending", "filter": {"kind": "api"}}
    )
    assert [r["document_id"] for r in filtered.json()["results"]] == ["sockets"]
    assert _call(live, "DELETE", "/v1/collections/docs/documents/sockets").status == 200
    assert _call(live, "DELETE", "/v1/collections/docs/documents/sockets").status == 404
    listed = _call(live, "GET", "/v1/collections").json()["data"]
    assert [c["name"] for c in listed] == ["docs"] and listed[0]["documents"] == 1
    assert _call(live, "DELETE", "/v1/collections/docs").json()["deleted"] is True
    assert _call(live, "GET", "/v1/collections/docs").status == 404


def test_a_collection_on_an_upstream_embedding_model(live: Live) -> None:
    made = _call(
        live, "POST", "/v1/collections", {"name": "sim", "embedding_model": "text-embedding-3-small"}
    )
    assert made.status == 200
    _call(live, "POST", "/v1/collections/sim/documents", {"documents": DOCS})
    assert _call(live, "GET", "/v1/collections/sim").json()["dimensions"] == 1536
    hits = _call(live, "POST", "/v1/collections/sim/search", {"query": "WebSocket streams"}).json()
    assert hits["results"][0]["document_id"] == "sockets"
    _call(live, "DELETE", "/v1/collections/sim")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/v1/collections", {"name": "bad name"}, 400, "name"),
        ("POST", "/v1/collections", {"name": "x", "colour": "red"}, 400, "colour"),
        ("GET", "/v1/collections/missing", None, 404, "name"),
        ("POST", "/v1/collections/missing/search", {"query": "x"}, 404, "name"),
        ("POST", "/v1/collections/refuse/documents", {"documents": []}, 400, "documents"),
        (
            "POST",
            "/v1/collections/refuse/documents",
            {"documents": [{"id": "a", "text": ""}]},
            400,
            "documents",
        ),
        ("POST", "/v1/collections/refuse/search", {"vector": [0.5, 0.5]}, 400, "vector"),
        ("POST", "/v1/collections/refuse/search", {"query": "x", "top_k": 1000}, 400, "top_k"),
        ("POST", "/v1/collections/refuse/search", {"query": "x", "filter": [1]}, 400, "filter"),
        ("POST", "/v1/collections/refuse/search", {}, 400, "query"),
    ],
)
def test_refusals_name_the_field(
    live: Live, method: str, path: str, body: dict[str, Any] | None, status: int, param: str
) -> None:
    if _call(live, "GET", "/v1/collections/refuse").status == 404:
        _call(live, "POST", "/v1/collections", {"name": "refuse"})
        _call(live, "POST", "/v1/collections/refuse/documents", {"documents": DOCS})
    reply = _call(live, method, path, body)
    assert reply.status == status, reply.body
    assert reply.json()["error"]["param"] == param


def test_a_taken_name_is_a_conflict(live: Live) -> None:
    _call(live, "POST", "/v1/collections", {"name": "twice"})
    again = _call(live, "POST", "/v1/collections", {"name": "twice"})
    assert again.status == 409 and "already exists" in again.json()["error"]["message"]


def test_keys_are_required_once_issued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", "admin-secret-for-tests-0123456789")
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "retrieval": {"path": str(tmp_path / "rag.db")},
    }
    with serve(config) as gateway:
        admin = {"authorization": "Bearer admin-secret-for-tests-0123456789"}
        key = _wire.call(gateway.base_url, "POST", "/admin/keys", {"name": "k"}, admin).json()["key"]
        refused = _wire.call(gateway.base_url, "GET", "/v1/collections", None, {})
        admitted = _wire.call(
            gateway.base_url, "GET", "/v1/collections", None, {"authorization": f"Bearer {key}"}
        )
    assert refused.status == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert admitted.status == 200

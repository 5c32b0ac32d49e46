"""The usage API over HTTP: ``GET /admin/usage`` (the admin key, every caller) and ``GET /v1/usage``
(the caller's own, keys and JWT subjects alike), exact totals of a known ledger on SQLite and
PostgreSQL, and errors in the caller's dialect naming the parameter."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from claudegate.store import Database, UsageLedger
from tests.gateway import _ledger, _wire
from tests.gateway._idp import IdentityProvider, claims, rsa_key
from tests.gateway.conftest import Live, serve, simulator_route
from tests.gateway.test_jwt import PER_KEY_RPM, running
from tests.store._known_usage import T0, known_ledger

ADMIN = "admin-secret-for-usage-tests-0123456789"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ANTHROPIC = {"anthropic-version": "2023-06-01"}


@dataclass
class Gateway:
    live: Live
    key_a: str
    key_b: str
    ids: dict[str, str]  # known-ledger key id -> the created key's id


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_USAGE_ADMIN_KEY", ADMIN)


def admin(url: str, query: str, headers: dict[str, str] | None = None) -> _wire.Reply:
    return _wire.call(
        url, "GET", "/admin/usage" + query, headers={"x-api-key": ADMIN, **ANTHROPIC, **(headers or {})}
    )


def own(url: str, key: str, query: str = "", bearer: bool = False) -> _wire.Reply:
    headers = {"authorization": f"Bearer {key}"} if bearer else {"x-api-key": key, **ANTHROPIC}
    return _wire.call(url, "GET", "/v1/usage" + query, headers=headers)


async def _write(url: str, prefix: str, ids: dict[str, str]) -> None:
    database = await Database.connect(url, table_prefix=prefix)
    try:
        rows = [replace(row, key_id=ids.get(row.key_id or "", row.key_id)) for row in known_ledger()]
        await UsageLedger(database).insert(rows)
    finally:
        await database.close()


async def _drop(url: str, prefix: str) -> None:
    database = await Database.connect(url, table_prefix=prefix, create_tables=False)
    try:
        await database.drop_tables()
    finally:
        await database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    """A keyed gateway whose ledger holds ``known_ledger`` (key_a and key_b as two real keys)."""
    prefix = f"u{secrets.token_hex(6)}_"
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}" if request.param == "sqlite" else POSTGRES_URL
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_USAGE_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": url, "table_prefix": prefix},
    }
    try:
        with serve(config) as live:
            created = []
            for name in ("a", "b"):
                reply = _wire.call(
                    live.base_url, "POST", "/admin/keys", {"name": name}, {"x-api-key": ADMIN, **ANTHROPIC}
                )
                assert reply.status == 201, reply.body
                created.append(reply.json())
            ids = {"key_a": created[0]["id"], "key_b": created[1]["id"]}
            asyncio.run(_write(url, prefix, ids))
            yield Gateway(live, created[0]["key"], created[1]["key"], ids)
    finally:
        asyncio.run(_drop(url, prefix))


def totals(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["requests"], item["input_tokens"], item["output_tokens"], round(item["cost_usd"], 6))


def test_admin_usage_by_day_and_key_has_the_exact_totals(gateway: Gateway) -> None:
    url, ids = gateway.live.base_url, gateway.ids
    reply = admin(url, "?group_by=key&bucket=day")
    assert reply.status == 200, reply.body
    body = reply.json()
    day1, day2 = "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"
    keyed = [
        (day1, ids["key_a"], 4, 400, 40, 1.25),
        (day1, ids["key_b"], 1, 100, 10, 0.5),
        (day2, ids["key_b"], 1, 100, 10, 1.0),
        (day2, "jwt:alice", 1, 1, 10, 0.5),
    ]
    expected = [*sorted(keyed, key=lambda row: (row[0], row[1])), (day2, None, 1, 3, 10, 0.5)]  # no key: last
    assert [(item["start"], item["key_id"], *totals(item)) for item in body["data"]] == expected
    first = body["data"][0] if body["data"][0]["key_id"] == ids["key_a"] else body["data"][1]
    assert (first["errors"], first["latency_ms_avg"], first["latency_ms_max"]) == (1, 137.5, 300.0)
    assert (body["group_by"], body["bucket"], body["from"], body["to"]) == (["key"], "day", None, None)
    one_key = admin(url, f"?key_id={ids['key_b']}&bucket=day").json()["data"]
    assert [(item["start"], *totals(item)) for item in one_key] == [
        (day1, 1, 100, 10, 0.5),
        (day2, 1, 100, 10, 1.0),
    ]


def test_admin_usage_groups_by_every_dimension_and_bucket(gateway: Gateway) -> None:
    url = gateway.live.base_url

    def grouped(query: str, *fields: str) -> list[tuple[Any, ...]]:
        reply = admin(url, query)
        assert reply.status == 200, reply.body
        return [tuple(item[name] for name in fields) for item in reply.json()["data"]]

    assert grouped("?group_by=model", "model", "requests") == [
        ("claude-haiku-4-5", 1),
        ("claude-sonnet-4-5", 7),
    ]
    assert grouped("?group_by=deployment", "deployment", "requests") == [("backup", 1), ("primary", 7)]
    assert grouped("?group_by=surface", "surface", "requests") == [("anthropic", 7), ("openai", 1)]
    assert grouped("?group_by=dialect,status", "surface", "status", "requests", "errors") == [
        ("anthropic", 200, 6, 0),
        ("anthropic", 529, 1, 1),
        ("openai", 200, 1, 0),
    ]
    hours = "?bucket=hour&from=2026-03-01T00:00:00Z&to=2026-03-01T06:00:00%2B00:00"
    assert grouped(hours, "start", "requests", "output_tokens") == [
        ("2026-03-01T00:00:00Z", 2, 30),
        ("2026-03-01T01:00:00Z", 2, 10),
        ("2026-03-01T05:00:00Z", 1, 10),
    ]
    start = int(T0.timestamp())
    minutes = f"?bucket=minute&group_by=model&from={start}&to={start + 7200}"
    assert grouped(minutes, "start", "model", "requests") == [
        ("2026-03-01T00:05:00Z", "claude-sonnet-4-5", 2),
        ("2026-03-01T01:10:00Z", "claude-haiku-4-5", 1),
        ("2026-03-01T01:50:00Z", "claude-sonnet-4-5", 1),
    ]
    # A range cutting hours and days: rows 2 to 6 of the known ledger.
    cut = f"?from={start + 310}&to=2026-03-02T02:00:30Z"
    assert grouped(cut, "requests", "input_tokens", "output_tokens", "cost_usd") == [(5, 500, 50, 2.25)]


def test_a_key_sees_only_its_own_usage_and_no_admin_usage(gateway: Gateway) -> None:
    url, ids = gateway.live.base_url, gateway.ids
    mine = own(url, gateway.key_b, "?group_by=key,deployment&bucket=day")
    as_bearer = own(url, gateway.key_b, "?group_by=key", bearer=True)
    other = own(url, gateway.key_a, "?key_id=" + ids["key_b"])
    refused = _wire.call(url, "GET", "/admin/usage", headers={"x-api-key": gateway.key_a, **ANTHROPIC})
    nobody = _wire.call(url, "GET", "/v1/usage", headers=ANTHROPIC)
    assert mine.status == 200, mine.body
    assert [
        (item["start"], item["key_id"], item["deployment"], *totals(item)) for item in mine.json()["data"]
    ] == [
        ("2026-03-01T00:00:00Z", ids["key_b"], "primary", 1, 100, 10, 0.5),
        ("2026-03-02T00:00:00Z", ids["key_b"], "backup", 1, 100, 10, 1.0),
    ]
    assert [(item["key_id"], item["requests"]) for item in as_bearer.json()["data"]] == [(ids["key_b"], 2)]
    assert other.status == 400 and other.json()["error"]["message"].startswith("key_id: unknown parameter")
    assert refused.status == 403 and refused.json()["error"]["type"] == "permission_error"
    assert nobody.status == 401 and nobody.json()["error"]["type"] == "authentication_error"


def test_bad_parameters_are_named_in_the_callers_dialect(gateway: Gateway) -> None:
    url, key = gateway.live.base_url, gateway.key_a
    cases = {
        "?group_by=colour": "group_by",
        "?bucket=week": "bucket",
        "?from=yesterday": "from",
        "?to=2026-03-01T00:00:00": "to",  # no time zone
        "?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z": "to",
        "?bucket=minute": "bucket",  # the ledger's rows over an unbounded range
        "?bucket=day&bucket=hour": "bucket",
        "?from=999999999999": "from",  # past the year 9999
        "?to=-999999999999.5": "to",
        "?from=0001-01-01T00:00:00%2B01:00": "from",  # before the year 1 in UTC
    }
    for query, parameter in cases.items():
        anthropic = own(url, key, query)
        openai = own(url, key, query, bearer=True)
        assert anthropic.status == 400 and openai.status == 400, (query, anthropic.body)
        anthropic_error, openai_error = anthropic.json(), openai.json()["error"]
        assert anthropic_error["type"] == "error", query
        assert anthropic_error["error"]["type"] == "invalid_request_error"
        assert anthropic_error["error"]["message"].startswith(parameter + ": "), query
        assert openai_error["param"] == parameter and openai_error["type"] == "invalid_request_error", query


def test_live_calls_reach_the_usage_api(tmp_path: Path) -> None:
    """A key's calls and a JWT subject's calls, each seen by its owner alone."""
    idp = IdentityProvider()
    idp.add(rsa_key("rsa-1"))
    with running(tmp_path, idp) as jwt_gateway:
        url = jwt_gateway.url
        token = idp.token("rsa-1", claims("usage-alice"))
        chat = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(2):
            assert (
                _wire.post(url, "/v1/chat/completions", chat, {"authorization": f"Bearer {token}"}).status
                == 200
            )
        sent = _wire.post(
            url,
            "/v1/messages",
            {**chat, "max_tokens": 10},
            {"x-api-key": jwt_gateway.key, **ANTHROPIC},
        )
        assert sent.status == 200
        deadline = time.monotonic() + 30
        while len(_ledger.rows(jwt_gateway.db)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the ledger is written off the hot path
        found = own(url, token, "?group_by=key,surface", bearer=True).json()["data"]
        keyed = own(url, jwt_gateway.key).json()["data"]
        # Reading usage counts against requests_per_minute (5 here), apart from the model calls.
        more = [own(url, token, bearer=True).status for _ in range(PER_KEY_RPM)]
    assert [(item["key_id"], item["surface"], item["requests"]) for item in found] == [
        ("jwt:usage-alice", "openai", 2)
    ]
    assert found[0]["output_tokens"] > 0 and found[0]["input_tokens"] > 0
    assert [item["requests"] for item in keyed] == [1]
    assert more == [200] * (PER_KEY_RPM - 1) + [429]

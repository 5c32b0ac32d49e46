"""Message Batches over ``/graphql`` through a real GraphQL client (gql) over a socket: a batch runs
and its results equal the same requests sent one by one; another key's batch is NOT_FOUND; cancel
ends what has not run; a page of batches with counts and results costs a fixed number of SQL
statements."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway._graphql import ADMIN, StatementCounter, execute, http_session, keyed_gateway
from tests.gateway.conftest import Live

MODEL = "claude-sonnet-5"
PROMPTS = ["hello there", "tell me about otters", "what is two plus two"]
WAIT = 30.0

CREATE = """mutation($input: BatchInput!) { createBatch(input: $input) { id processingStatus
  requestCounts { processing succeeded errored canceled expired } createdAt expiresAt endedAt resultsUrl
  results { nodes { customId } } } }"""
READ = """query($id: String!) { batch(id: $id) { id processingStatus endedAt cancelInitiatedAt resultsUrl
  requestCounts { processing succeeded errored canceled expired }
  results(first: 10) { edges { cursor node { customId type message error } } } } }"""
CREATE_MESSAGE = """mutation($input: MessageInput!) { createMessage(input: $input) { content stopReason
  usage { outputTokens } } }"""


def ask(prompt: str) -> dict[str, Any]:
    return {"model": MODEL, "maxTokens": 40, "messages": [{"role": "user", "content": prompt}]}


def batch_input(prompts: list[str]) -> dict[str, Any]:
    return {"requests": [{"customId": f"r-{n}", "params": ask(p)} for n, p in enumerate(prompts)]}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with keyed_gateway(
        tmp_path_factory.mktemp("graphql-batches") / "store.db", jobs={"backoff": 0.01}
    ) as live:
        yield live


async def new_key(base_url: str, name: str = "batcher") -> str:
    async with http_session(base_url, ADMIN) as admin:
        data, errors = await execute(
            admin, "mutation($n: String!) { createKey(input: {name: $n}) { secret } }", {"n": name}
        )
    assert not errors and data is not None
    secret: str = data["createKey"]["secret"]
    return secret


async def ended(session: Any, batch_id: str) -> dict[str, Any]:
    """The batch once it has ended (polled as a client would, until the deadline)."""
    deadline = time.monotonic() + WAIT
    while True:
        data, errors = await execute(session, READ, {"id": batch_id})
        assert not errors and data is not None, errors
        if data["batch"]["processingStatus"] == "ENDED":
            return dict(data["batch"])
        assert time.monotonic() < deadline, "the batch never ended"
        await asyncio.sleep(0.05)


async def test_a_batch_runs_and_its_results_equal_the_requests_sent_one_by_one(keyed: Live) -> None:
    key = await new_key(keyed.base_url)
    async with http_session(keyed.base_url, key) as session:
        data, errors = await execute(session, CREATE, {"input": batch_input(PROMPTS)})
        assert not errors and data is not None
        created = data["createBatch"]
        assert created["id"].startswith("msgbatch_") and created["processingStatus"] == "IN_PROGRESS"
        assert created["requestCounts"] == {
            "processing": 3,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        assert created["endedAt"] is None and created["resultsUrl"] is None and created["results"] is None
        assert created["expiresAt"] > created["createdAt"]
        batch = await ended(session, created["id"])
        direct = []
        for prompt in PROMPTS:
            answer, errors = await execute(session, CREATE_MESSAGE, {"input": ask(prompt)})
            assert not errors and answer is not None
            direct.append(answer["createMessage"])
        listed, errors = await execute(session, "{ batches(first: 5) { nodes { id processingStatus } } }")
    assert not errors and listed == {
        "batches": {"nodes": [{"id": created["id"], "processingStatus": "ENDED"}]}
    }
    assert batch["requestCounts"]["succeeded"] == 3 and batch["requestCounts"]["processing"] == 0
    assert batch["resultsUrl"] == f"{keyed.base_url}/v1/messages/batches/{created['id']}/results"
    results = {edge["node"]["customId"]: edge["node"] for edge in batch["results"]["edges"]}
    assert sorted(results) == ["r-0", "r-1", "r-2"]
    for n, alone in enumerate(direct):
        node = results[f"r-{n}"]
        assert node["type"] == "SUCCEEDED" and node["error"] is None
        message = node["message"]
        assert message["content"] == alone["content"] and message["stop_reason"] == alone["stopReason"]
        assert message["usage"]["output_tokens"] == alone["usage"]["outputTokens"]


async def test_results_page_by_cursor(keyed: Live) -> None:
    key = await new_key(keyed.base_url)
    async with http_session(keyed.base_url, key) as session:
        data, _ = await execute(session, CREATE, {"input": batch_input(PROMPTS)})
        assert data is not None
        batch_id = data["createBatch"]["id"]
        await ended(session, batch_id)
        page = """query($id: String!, $after: String) { batch(id: $id) { results(first: 2, after: $after) {
          nodes { customId } pageInfo { hasNextPage endCursor } } } }"""
        first, _ = await execute(session, page, {"id": batch_id})
        assert first is not None
        cursor = first["batch"]["results"]["pageInfo"]["endCursor"]
        second, _ = await execute(session, page, {"id": batch_id, "after": cursor})
        bad, errors = await execute(session, page, {"id": batch_id, "after": "job_nope"})
    assert second is not None and first["batch"]["results"]["pageInfo"]["hasNextPage"] is True
    seen = first["batch"]["results"]["nodes"] + second["batch"]["results"]["nodes"]
    assert sorted(node["customId"] for node in seen) == ["r-0", "r-1", "r-2"]
    assert second["batch"]["results"]["pageInfo"]["hasNextPage"] is False
    assert bad == {"batch": {"results": None}}
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and errors[0]["extensions"]["field"] == "after"


async def test_another_keys_batch_is_not_found_and_bad_input_names_its_field(keyed: Live) -> None:
    alice, bob = await new_key(keyed.base_url, "alice"), await new_key(keyed.base_url, "bob")
    async with http_session(keyed.base_url, alice) as session:
        data, _ = await execute(session, CREATE, {"input": batch_input(["hi"])})
        assert data is not None
        batch_id = data["createBatch"]["id"]
        duplicate = {
            "requests": [{"customId": "same", "params": ask("a")}, {"customId": "same", "params": ask("b")}]
        }
        _, duplicated = await execute(session, CREATE, {"input": duplicate})
        no_tokens = {"requests": [{"customId": "x", "params": {**ask("a"), "maxTokens": 0}}]}
        _, zero = await execute(session, CREATE, {"input": no_tokens})
    async with http_session(keyed.base_url, bob) as session:
        read, read_errors = await execute(session, READ, {"id": batch_id})
        _, cancel_errors = await execute(session, f'mutation {{ cancelBatch(id: "{batch_id}") {{ id }} }}')
        listed, _ = await execute(session, "{ batches { nodes { id } } }")
    assert read == {"batch": None} and read_errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert cancel_errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert listed == {"batches": {"nodes": []}}
    assert duplicated[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "status": 400,
        "type": "invalid_request_error",
        "field": "input.requests[1].customId",
    }
    assert zero[0]["extensions"]["field"] == "input.requests[0].params.maxTokens"


async def test_cancel_ends_what_has_not_run_as_canceled(keyed: Live) -> None:
    key = await new_key(keyed.base_url)
    slow = {"x-sim-latency": "ttft=60"}
    async with http_session(keyed.base_url, key, headers=slow) as session:
        data, _ = await execute(session, CREATE, {"input": batch_input(PROMPTS)})
        assert data is not None
        batch_id = data["createBatch"]["id"]
        canceled, errors = await execute(
            session,
            "mutation($id: String!) { cancelBatch(id: $id) { processingStatus cancelInitiatedAt } }",
            {"id": batch_id},
        )
        assert not errors and canceled is not None
        batch = await ended(session, batch_id)
    assert canceled["cancelBatch"]["processingStatus"] == "CANCELING"
    assert canceled["cancelBatch"]["cancelInitiatedAt"] is not None
    assert batch["requestCounts"]["canceled"] == 3 and batch["requestCounts"]["succeeded"] == 0
    assert {edge["node"]["type"] for edge in batch["results"]["edges"]} == {"CANCELED"}


PAGE = """query($n: Int!) { batches(first: $n) { nodes { id processingStatus
  requestCounts { succeeded } results(first: 2) { nodes { customId type } } } } }"""


async def test_a_page_of_batches_with_counts_and_results_costs_a_fixed_number_of_statements(
    tmp_path: Path,
) -> None:
    jobs = {"poll": 3600, "lease": 3600}  # no background look at the store while statements are counted
    with keyed_gateway(tmp_path / "store.db", jobs=jobs) as live:
        key = await new_key(live.base_url)
        async with http_session(live.base_url, key) as session:
            for _ in range(12):
                await execute(session, CREATE, {"input": batch_input(PROMPTS[:2])})
            deadline = time.monotonic() + WAIT
            while True:
                page, _ = await execute(session, PAGE, {"n": 12})
                assert page is not None
                if all(node["processingStatus"] == "ENDED" for node in page["batches"]["nodes"]):
                    break
                assert time.monotonic() < deadline, "the batches never ended"
                await asyncio.sleep(0.1)
            counts = {}
            for size in (1, 4, 12):
                with StatementCounter(live) as counter:
                    page, errors = await execute(session, PAGE, {"n": size})
                assert not errors and page is not None and len(page["batches"]["nodes"]) == size
                assert all(len(node["results"]["nodes"]) == 2 for node in page["batches"]["nodes"])
                counts[size] = counter.count
    assert counts[1] == counts[4] == counts[12] and 1 <= counts[1] <= 4, counts

"""``/v1/files`` and ``/v1/batches`` through the official ``openai`` SDK: an uploaded JSONL file runs
as a batch on the job engine, its output file equals the same requests sent one by one, canceling
and bad input files end as OpenAI's clients expect, and a key sees only its own files and batches."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import Batch

from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _ledger, _wire
from tests.gateway.conftest import serve, simulator_route

ADMIN = "admin-secret-for-openai-batch-tests-01"
PROMPTS = ["hello there", "tell me about otters", "what is two plus two"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    return {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "jobs": {"backoff": 0.01},
    }


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[str]:
    with LiveServer(create_simulator()) as upstream:
        yield upstream.base_url + "/v1"


def new_key(base_url: str) -> str:
    reply = _wire.call(base_url, "POST", "/admin/keys", {"name": "o"}, {"authorization": f"Bearer {ADMIN}"})
    assert reply.status == 201, reply.body
    key: str = reply.json()["key"]
    return key


def chat(prompt: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-5", "max_tokens": 40, "messages": [{"role": "user", "content": prompt}]}


def input_file(prompts: list[str]) -> bytes:
    lines = [
        {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions", "body": chat(p)}
        for i, p in enumerate(prompts)
    ]
    return b"\r\n".join(json.dumps(line).encode() for line in lines) + b"\r\n"


def finished(client: openai.OpenAI, batch_id: str, timeout: float = 30.0) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired") or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def lines(client: openai.OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    text = client.files.content(file_id).text
    return {item["custom_id"]: item for item in map(json.loads, text.splitlines())}


def run_batch(base_url: str, key: str) -> None:
    with openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0) as client:
        uploaded = client.files.create(file=("requests.jsonl", input_file(PROMPTS)), purpose="batch")
        assert uploaded.purpose == "batch" and uploaded.bytes == len(input_file(PROMPTS))
        assert uploaded.filename == "requests.jsonl" and uploaded.id.startswith("file-")
        assert client.files.retrieve(uploaded.id).id == uploaded.id
        assert client.files.content(uploaded.id).content == input_file(PROMPTS)
        created = client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"run": "1"},
        )
        assert created.status == "in_progress" and created.input_file_id == uploaded.id
        assert created.request_counts is not None and created.request_counts.total == len(PROMPTS)
        batch = finished(client, created.id)
        assert batch.status == "completed" and batch.completed_at is not None
        assert batch.request_counts is not None and batch.request_counts.completed == len(PROMPTS)
        assert batch.error_file_id is None and batch.metadata == {"run": "1"}
        assert batch.usage is not None and batch.usage.output_tokens > 0
        output = lines(client, batch.output_file_id)
        direct = {f"req-{i}": client.chat.completions.create(**chat(p)) for i, p in enumerate(PROMPTS)}
        assert [item.id for item in client.batches.list()] == [batch.id]
        files = {item.id: item.purpose for item in client.files.list()}
        assert files == {uploaded.id: "batch", batch.output_file_id: "batch_output"}
        assert client.files.delete(uploaded.id).deleted is True
    assert set(output) == set(direct)
    for custom_id, line in output.items():
        assert line["error"] is None and line["response"]["status_code"] == 200
        body, alone = line["response"]["body"], direct[custom_id]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == alone.choices[0].message.content
        assert body["choices"][0]["finish_reason"] == alone.choices[0].finish_reason


def test_a_batch_file_runs_on_the_simulator_as_the_requests_sent_one_by_one(
    config: dict[str, Any], tmp_path: Path
) -> None:
    with serve(config) as live:
        run_batch(live.base_url, new_key(live.base_url))
    rows = _ledger.rows(tmp_path / "g.db")
    assert len(rows) == 2 * len(PROMPTS) and {row["dialect"] for row in rows} == {"openai"}


def test_a_batch_file_runs_on_an_openai_compatible_route(
    config: dict[str, Any], openai_upstream: str
) -> None:
    config["models"] = [{"name": "*", "deployments": [{"provider": "openai", "base_url": openai_upstream}]}]
    with serve(config) as live:
        run_batch(live.base_url, new_key(live.base_url))


def test_a_canceled_batch_ends_cancelled_with_one_error_line_per_request(config: dict[str, Any]) -> None:
    with serve(config) as live:
        key = new_key(live.base_url)
        with openai.OpenAI(base_url=live.base_url + "/v1", api_key=key, max_retries=0) as client:
            uploaded = client.files.create(file=("slow.jsonl", input_file(PROMPTS)), purpose="batch")
            created = client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_headers={"x-sim-latency": "ttft=60"},
            )
            canceling = client.batches.cancel(created.id)
            batch = finished(client, created.id)
            errors = lines(client, batch.error_file_id)
    assert canceling.status == "cancelling" and canceling.cancelling_at is not None
    assert batch.status == "cancelled" and batch.cancelled_at is not None and batch.output_file_id is None
    assert batch.request_counts is not None and batch.request_counts.failed == len(PROMPTS)
    assert set(errors) == {f"req-{i}" for i in range(len(PROMPTS))}
    assert {line["error"]["code"] for line in errors.values()} == {"batch_cancelled"}


def test_a_bad_input_file_fails_the_batch_naming_the_line(config: dict[str, Any], tmp_path: Path) -> None:
    bad = (
        input_file(PROMPTS[:1]) + b'{"custom_id": "req-0", "method": "GET", "url": "/v1/chat/completions"}\n'
    )
    with serve(config) as live:
        with openai.OpenAI(
            base_url=live.base_url + "/v1", api_key=new_key(live.base_url), max_retries=0
        ) as client:
            uploaded = client.files.create(file=("bad.jsonl", bad), purpose="batch")
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            with pytest.raises(openai.BadRequestError) as window:
                client.batches.create(
                    input_file_id=uploaded.id,
                    endpoint="/v1/chat/completions",
                    completion_window="48h",  # type: ignore[arg-type]
                )
            with pytest.raises(openai.BadRequestError) as purpose:
                client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    (error,) = batch.errors.data
    assert error.line == 2 and error.param == "method"
    assert window.value.body is not None and "completion_window" in str(window.value.body)
    assert "purpose" in str(purpose.value.body)
    assert _ledger.rows(tmp_path / "g.db") == []  # nothing ran


def test_another_key_cannot_see_a_file_or_batch(config: dict[str, Any]) -> None:
    with serve(config) as live:
        alice, bob = new_key(live.base_url), new_key(live.base_url)
        with openai.OpenAI(base_url=live.base_url + "/v1", api_key=alice, max_retries=0) as client:
            uploaded = client.files.create(file=("a.jsonl", input_file(PROMPTS[:1])), purpose="batch")
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        with openai.OpenAI(base_url=live.base_url + "/v1", api_key=bob, max_retries=0) as client:
            for action in (client.files.retrieve, client.files.content, client.files.delete):
                with pytest.raises(openai.NotFoundError):
                    action(uploaded.id)
            for batch_action in (client.batches.retrieve, client.batches.cancel):
                with pytest.raises(openai.NotFoundError):
                    batch_action(batch.id)
            with pytest.raises(openai.NotFoundError):
                client.batches.create(
                    input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
                )
            assert client.files.list().data == [] and client.batches.list().data == []

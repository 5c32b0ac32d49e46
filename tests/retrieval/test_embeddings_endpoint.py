"""``POST /v1/embeddings`` through the gateway with the official ``openai`` SDK: the local model
(with the network blocked), an OpenAI-compatible upstream (the simulator over HTTP), and bad
input answered in OpenAI's envelope naming the field."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from claudegate.retrieval import _local
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._ledger import rows
from tests.gateway.conftest import Live, serve, simulator_route
from tests.retrieval._offline import offline


@pytest.fixture(scope="module")
def gateway() -> Iterator[Live]:
    with serve() as live:
        yield live


def _client(live: Live, key: str = "sk-client") -> openai.OpenAI:
    return openai.OpenAI(base_url=live.base_url + "/v1", api_key=key, max_retries=0)


def test_local_model_needs_no_network(gateway: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_local, "_loaded", None)  # loaded afresh, inside the guard
    with offline(monkeypatch) as attempts, _client(gateway) as client:
        answer = client.embeddings.create(
            model="local", input=["How do I cap a key's spending?", "budgets per key and per day"]
        )
        floats = client.embeddings.create(model="local", input="the weather", encoding_format="float")
    assert attempts == []
    assert answer.model == _local.LOCAL_MODEL and len(answer.data) == 2
    first, second = (np.asarray(item.embedding) for item in answer.data)
    assert first.shape == (256,) and abs(np.linalg.norm(first) - 1) < 1e-4
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > 4
    assert len(floats.data[0].embedding) == 256
    assert float(first @ second) > float(first @ np.asarray(floats.data[0].embedding))


def test_local_model_under_its_own_name_and_shortened(gateway: Live) -> None:
    with _client(gateway) as client:
        whole = client.embeddings.create(model=_local.LOCAL_MODEL, input="retrieval", encoding_format="float")
        short = client.embeddings.create(
            model="local", input="retrieval", dimensions=64, encoding_format="float"
        )
    full, cut = np.asarray(whole.data[0].embedding), np.asarray(short.data[0].embedding)
    assert cut.shape == (64,) and abs(np.linalg.norm(cut) - 1) < 1e-4
    assert np.allclose(cut, full[:64] / np.linalg.norm(full[:64]), atol=1e-5)


def test_base64_is_little_endian_float32(gateway: Live) -> None:
    reply = _wire.post(
        gateway.base_url,
        "/v1/embeddings",
        {"model": "local", "input": "a", "encoding_format": "base64"},
        {"authorization": "Bearer sk"},
    )
    item = reply.json()["data"][0]
    vector = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
    assert vector.shape == (256,) and item["index"] == 0


def test_openai_compatible_route_with_failover() -> None:
    with LiveServer(create_simulator()) as upstream:
        deployments = [
            {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "name": "dead"},
            {"provider": "openai", "base_url": upstream.base_url + "/v1", "priority": 2, "name": "up"},
        ]
        config = {"models": [{"name": "text-embedding-3-small", "deployments": deployments}]}
        with serve(config) as live, _client(live) as client:
            raw = client.embeddings.with_raw_response.create(
                model="text-embedding-3-small", input=["alpha beta", "alpha beta"], dimensions=32
            )
            again = client.embeddings.create(
                model="text-embedding-3-small", input="alpha beta", dimensions=32
            )
    answer = raw.parse()
    vectors = [np.asarray(item.embedding) for item in answer.data]
    assert vectors[0].shape == (32,) and np.array_equal(vectors[0], vectors[1])
    assert np.array_equal(vectors[0], np.asarray(again.data[0].embedding))  # deterministic
    assert answer.usage.prompt_tokens == 6


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"model": "local", "input": []}, "input", "must not be empty"),
        ({"model": "local", "input": ""}, "input", "must not be empty"),
        ({"model": "local", "input": ["x"] * 2049}, "input", "2049 inputs"),
        ({"model": "local", "input": "word " * 9000}, "input", "more than the 8192"),
        ({"model": "local", "input": "x", "dimensions": 300}, "dimensions", "at most"),
        ({"model": "local", "input": "x", "dimensions": 0}, "dimensions", "positive"),
        ({"model": "local", "input": [[1, 2, 3]]}, "input", "token arrays"),
        ({"model": "local", "input": "x", "encoding_format": "int8"}, "encoding_format", "'float'"),
        ({"input": "x"}, "model", "model"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    gateway: Live, body: dict[str, object], param: str, fragment: str
) -> None:
    reply = _wire.post(gateway.base_url, "/v1/embeddings", body, {"authorization": "Bearer sk"})
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["param"] == param and fragment in error["message"]
    assert error["type"] == "invalid_request_error"


def test_sdk_sees_a_bad_request(gateway: Live) -> None:
    with _client(gateway) as client, pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="local", input=[])
    assert "input" in str(refused.value)


def test_a_chat_only_upstream_refuses_embeddings_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TEST_UPSTREAM_KEY", "sk-upstream")
    anthropic = {
        "provider": "anthropic",
        "api_key": "env:CG_TEST_UPSTREAM_KEY",
        "base_url": "http://127.0.0.1:9",
    }
    config = {"models": [{"name": "claude", "deployments": [anthropic]}]}
    with serve(config) as live:
        reply = _wire.post(live.base_url, "/v1/embeddings", {"model": "claude", "input": "x"}, {})
        unknown = _wire.post(live.base_url, "/v1/embeddings", {"model": "nope", "input": "x"}, {})
    assert reply.status == 400 and reply.json()["error"]["param"] == "model"
    assert "no embeddings" in reply.json()["error"]["message"]
    assert unknown.status == 404 and unknown.json()["error"]["param"] == "model"


def test_keys_limits_and_ledger_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = "admin-secret-for-tests-0123456789"
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", admin)
    db = tmp_path / "g.db"
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
        "limits": {"per_key": {"requests_per_minute": 2}},
    }
    with serve(config) as live:
        created = _wire.call(
            live.base_url, "POST", "/admin/keys", {"name": "e"}, {"authorization": f"Bearer {admin}"}
        )
        key, key_id = created.json()["key"], created.json()["id"]
        anonymous = _wire.post(live.base_url, "/v1/embeddings", {"model": "local", "input": "x"}, {})
        with _client(live, key) as client:
            answer = client.embeddings.create(model="local", input=["one two three", "four"])
            client.embeddings.create(model="text-embedding-3-small", input="simulated")
            with pytest.raises(openai.RateLimitError):
                client.embeddings.create(model="local", input="third")
    assert anonymous.status == 401
    written = [row for row in rows(db) if row["key_id"] == key_id]
    assert [row["model"] for row in written] == ["local", "text-embedding-3-small", "local"]
    first = written[0]
    assert first["input_tokens"] == answer.usage.prompt_tokens and first["output_tokens"] == 0
    assert first["deployment"] == f"local/{_local.LOCAL_MODEL}" and first["status"] == 200
    assert written[2]["status"] == 429

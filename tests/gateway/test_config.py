"""Configuration: no file means the simulator for every model; a bad file fails at start, naming the key."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claudegate.cli import app as cli
from claudegate.gateway import ConfigError, create_app, load_config, parse_config
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

ASK = {"max_tokens": 64, "messages": [{"role": "user", "content": "lanterns over the quay"}]}


def test_without_a_config_every_listed_model_is_answered_by_the_simulator(gateway: Live) -> None:
    listed = [item["id"] for item in _wire.call(gateway.base_url, "GET", "/v1/models").json()["data"]]
    assert len(listed) >= 3
    for model in listed:
        reply = _wire.messages(gateway.base_url, {"model": model, **ASK})
        assert reply.status == 200, reply.body
        message = reply.json()
        assert message["model"] == model
        assert "lanterns over the quay" in message["content"][0]["text"]


def test_a_yaml_file_configures_routes_and_upstream_model_names(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text(
        "gateway:\n"
        "  default_max_tokens: 32\n"
        "models:\n"
        "  - name: house-model\n"
        "    deployments:\n"
        "      - provider: simulator\n"
        "        model: claude-haiku-4-5\n",
        encoding="utf-8",
    )
    with serve(load_config(file)) as live:
        reply = _wire.messages(live.base_url, {"model": "house-model", **ASK})
        other = _wire.messages(live.base_url, {"model": "claude-sonnet-5", **ASK})
    assert reply.status == 200
    assert reply.json()["model"] == "claude-haiku-4-5-20251001"
    assert other.status == 404 and other.json()["error"]["type"] == "not_found_error"


def _config_error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value


def _deployment(**fields: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "deployments": [fields]}]}


def test_an_unknown_key_is_named_with_its_full_path() -> None:
    deep = _config_error(_deployment(provider="simulator", colour="blue"))
    assert deep.field == "models[0].deployments[0].colour"
    assert "models[0].deployments[0].colour: unknown key" in deep.message
    top = _config_error({"gateway": {"heartbeat": 3}, "models": [{"name": "m", "deployments": []}]})
    assert "gateway.heartbeat: unknown key" in top.message


def test_an_inline_api_key_is_refused_with_where_keys_may_live() -> None:
    error = _config_error(_deployment(provider="anthropic", api_key="sk-ant-api03-inline"))
    assert error.field == "models[0].deployments[0].api_key"
    assert "env:" in error.message and "secret:" in error.message
    assert "sk-ant-api03-inline" not in error.message


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"provider": "anthropic"}, "api_key"),
        ({"provider": "openai"}, "base_url"),
        ({"provider": "salesforce", "client_id": "env:A", "client_secret": "env:B"}, "token_url"),
    ],
)
def test_each_provider_names_the_field_it_needs(fields: dict[str, Any], missing: str) -> None:
    error = _config_error(_deployment(**fields))
    assert error.message.startswith("config: models[0].deployments[0]")
    assert f"'{missing}'" in error.message


@pytest.mark.parametrize(
    ("retrieval", "key", "says"),
    [
        (
            {"colection": "docs"},
            "models[0].retrieval.collection",
            "models[0].retrieval.colection: unknown key",
        ),
        ({"collection": "my docs"}, "models[0].retrieval.collection", "1 to 64 letters"),
        ({"collection": "docs", "mode": "rerank"}, "models[0].retrieval.mode", "'context' or 'tool'"),
        ({"collection": "docs", "top_k": 0}, "models[0].retrieval.top_k", "greater than or equal to 1"),
        ({"collection": "docs", "min_score": 2}, "models[0].retrieval.min_score", "less than or equal to 1"),
        ({"collection": "docs", "filter": {"lang": {"en": 1}}}, "models[0].retrieval.filter.lang", ""),
    ],
)
def test_a_routes_retrieval_is_checked_naming_the_key(retrieval: dict[str, Any], key: str, says: str) -> None:
    error = _config_error(
        {"models": [{"name": "m", "deployments": [{"provider": "simulator"}], "retrieval": retrieval}]}
    )
    assert error.field is not None and error.field.startswith(key) and says in error.message


def test_retrieval_and_the_upstream_batch_api_exclude_each_other() -> None:
    route = {
        "name": "m",
        "deployments": [{"provider": "simulator"}],
        "retrieval": {"collection": "docs"},
        "batches": {"upstream": True},
    }
    assert (
        "batches.upstream cannot serve a route with retrieval" in _config_error({"models": [route]}).message
    )


def test_a_missing_environment_variable_fails_at_start_naming_key_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GW_TEST_ABSENT_KEY", raising=False)
    config = parse_config(
        {
            "models": [
                {"name": "a", "deployments": [{"provider": "simulator"}]},
                {
                    "name": "b",
                    "deployments": [{"provider": "anthropic", "api_key": "env:GW_TEST_ABSENT_KEY"}],
                },
            ]
        }
    )
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    assert caught.value.field == "models[1].deployments[0].api_key"
    assert "GW_TEST_ABSENT_KEY" in caught.value.message


def test_a_set_environment_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_PRESENT_KEY", "sk-ant-api03-test-only-0000")
    config = parse_config(_deployment(provider="anthropic", api_key="env:GW_TEST_PRESENT_KEY"))
    assert create_app(config).core.router.resolve("m") is not None


def test_bad_yaml_and_a_missing_file_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n  - name: x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_claudegate_serve_refuses_a_bad_config_naming_the_key(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text(
        "models:\n  - name: m\n    deployments:\n      - provider: anthropic\n        api_key: sk-inline\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["serve", "--config", str(file)])
    assert result.exit_code == 2
    assert "models[0].deployments[0].api_key" in result.output.replace("\n", "")


def test_claudegate_serve_without_a_config_answers_from_the_simulator() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "claudegate.cli", "serve", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if _wire.call(base_url, "GET", "/ready", timeout=1).status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "claudegate serve did not come up"
            time.sleep(0.05)
        reply = _wire.messages(base_url, {"model": "claude-sonnet-5", **ASK})
    finally:
        process.terminate()
        process.wait(10)
    assert reply.status == 200 and "lanterns over the quay" in reply.json()["content"][0]["text"]

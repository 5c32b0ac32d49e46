"""Config hot reload: a changed file is validated and swapped in without a restart; an invalid one is
refused while the old routes keep serving; a stream under way finishes on the routes it began on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from claudegate.gateway import GatewayApp, create_app, load_config
from claudegate.sse import validate_anthropic_sse
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._process import wait_for_banner

ASK = {"max_tokens": 32, "messages": [{"role": "user", "content": "reload"}]}


def write(path: Path, config: dict[str, Any] | str) -> None:
    """Replace the file the way editors do: a new file renamed over the old one."""
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    fresh = path.with_suffix(".tmp")
    fresh.write_text(text, encoding="utf-8")
    os.replace(fresh, path)


def routes(*names: str) -> dict[str, Any]:
    return {"models": [{"name": name, "deployments": [{"provider": "simulator"}]} for name in names]}


def eventually(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Wait (bounded) for a condition the server reaches on its own: a file change seen and applied."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def served(base_url: str) -> set[str]:
    reply = _wire.call(base_url, "GET", "/v1/models")
    return {item["id"] for item in reply.json()["data"]}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[GatewayApp, str, Path]]:
    path = tmp_path / "gateway.yaml"
    write(path, routes("claude-sonnet-5"))
    app = create_app(load_config(path), config_path=path)
    with LiveServer(app) as server:
        yield app, server.base_url, path


def test_a_route_added_to_the_file_is_served_without_a_restart(live: tuple[GatewayApp, str, Path]) -> None:
    _, base, path = live
    assert served(base) == {"claude-sonnet-5"}
    assert _wire.messages(base, {**ASK, "model": "claude-opus-5"}).status == 404
    write(path, routes("claude-sonnet-5", "claude-opus-5"))
    eventually(lambda: "claude-opus-5" in served(base), "the new route listed")
    assert _wire.messages(base, {**ASK, "model": "claude-opus-5"}).status == 200
    ready = _wire.call(base, "GET", "/ready").json()
    assert ready["status"] == "ready" and ready["config"]["reload_error"] is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("models: [{name: x, deployments: [{provider: simulator, priorty: 1}]}]\n", "priorty"),
        ("models: [\n", "not valid YAML"),
        (
            "models: [{name: x, deployments: [{provider: simulator}], retrieval: {colection: docs}}]\n",
            "models[0].retrieval.colection: unknown key",
        ),
        ("models: []\n", "models"),
        (
            "models: [{name: x, deployments: [{provider: anthropic, api_key: 'env:CG_RELOAD_MISSING'}]}]\n",
            "CG_RELOAD_MISSING",
        ),
    ],
)
def test_an_invalid_edit_is_refused_and_the_old_routes_keep_serving(
    live: tuple[GatewayApp, str, Path], text: str, named: str
) -> None:
    _, base, path = live
    write(path, text)
    eventually(lambda: bool(_wire.call(base, "GET", "/ready").json().get("config")), "the refusal shown")
    ready = _wire.call(base, "GET", "/ready").json()
    assert named in ready["config"]["reload_error"]
    assert ready["status"] == "ready"
    assert served(base) == {"claude-sonnet-5"}
    assert _wire.messages(base, {**ASK, "model": "claude-sonnet-5"}).status == 200
    # A good file afterwards is taken, and clears the error.
    write(path, routes("claude-sonnet-5", "claude-haiku-5"))
    eventually(lambda: "claude-haiku-5" in served(base), "the next good file applied")
    assert _wire.call(base, "GET", "/ready").json()["config"]["reload_error"] is None


def test_a_stream_running_during_a_reload_completes(live: tuple[GatewayApp, str, Path]) -> None:
    app, base, path = live
    old = app.core.runtime
    body = {**ASK, "model": "claude-sonnet-5", "stream": True, "max_tokens": 200}
    connection, response = _wire.start(base, "POST", "/v1/messages", body, {"x-sim-latency": "event=20ms"})
    first = response.read1(65536)
    assert b"message_start" in first
    write(path, routes("claude-opus-5"))  # the stream's route is gone from the new file
    eventually(lambda: app.core.runtime is not old, "the new config swapped in")
    assert _wire.messages(base, {**ASK, "model": "claude-sonnet-5"}).status == 404
    rest = response.read()
    connection.close()
    raw = first + rest
    validate_anthropic_sse(raw)
    events = _wire.anthropic_events(raw)
    assert events[-1]["type"] == "message_stop"
    text = "".join(
        event["delta"].get("text", "") for event in events if event["type"] == "content_block_delta"
    )
    assert "reload" in text
    eventually(lambda: old.active == 0, "the old routes drained")
    assert orjson.loads(_wire.call(base, "GET", "/ready").body)["status"] == "ready"


def test_sighup_reloads_the_served_file_instead_of_killing_the_process(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    write(path, routes("claude-sonnet-5"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudegate.cli", "serve", "--config", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    try:
        base = wait_for_banner(proc)
        assert _wire.call(base, "GET", "/ready").json() == {"status": "ready"}
        proc.send_signal(signal.SIGHUP)
        eventually(lambda: "config" in _wire.call(base, "GET", "/ready").json(), "the SIGHUP reload")
        assert proc.poll() is None
        ready = _wire.call(base, "GET", "/ready").json()
        assert ready["config"]["reloaded_at"] > 0 and ready["config"]["reload_error"] is None
        assert _wire.messages(base, {**ASK, "model": "claude-sonnet-5"}).status == 200
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=15)
    assert b"Traceback" not in errors

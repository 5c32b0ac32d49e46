from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claudegate.cli import app
from claudegate.client import Client, RetryPolicy
from claudegate.simulator import SimulatorConfig, create_app
from claudegate.testing import LiveServer

runner = CliRunner()


def test_chat_streams_from_the_built_in_simulator() -> None:
    result = runner.invoke(app, ["chat", "Tell me about lighthouses", "--max-tokens", "64"])
    assert result.exit_code == 0, result.output
    assert "lighthouses" in result.output
    assert "stop: end_turn" in result.output


def test_chat_against_a_base_url_with_a_key() -> None:
    key = "sk-cli-test-key-0001"
    with LiveServer(create_app(SimulatorConfig(api_keys=(key,)))) as server:
        ok = runner.invoke(app, ["chat", "Hello harbour", "--base-url", server.base_url, "--api-key", key])
        bad = runner.invoke(
            app, ["chat", "Hello", "--base-url", server.base_url, "--api-key", "sk-wrong-key-0001"]
        )
    assert ok.exit_code == 0 and "harbour" in ok.output
    assert bad.exit_code == 1 and "authentication_error" in bad.output
    assert "sk-wrong-key-0001" not in bad.output


def test_chat_without_a_key_for_a_remote_url_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("CLAUDEGATE_SECRETS_FILE", str(tmp_path / "none.sh"))
    result = runner.invoke(app, ["chat", "Hi", "--base-url", "http://127.0.0.1:9"])
    assert result.exit_code != 0 and "no API key" in result.output


def test_sim_command_serves_on_the_given_port() -> None:
    proc, port = _start_sim("--fault", "529;times=1")
    try:
        with Client(
            api_key="sk-any-key-0001",
            base_url=f"http://127.0.0.1:{port}",
            retry=RetryPolicy(max_retries=1, max_retry_after=0.1, initial_delay=0.01),
        ) as client:
            message = client.messages.create(
                model="claude-sonnet-5", max_tokens=32, messages=[{"role": "user", "content": "ping"}]
            )
        assert message.stop_reason == "end_turn"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"127.0.0.1:{port}" in out.decode()


def _start_sim(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudegate.cli", "sim", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


async def test_sim_salesforce_mode_serves_both_apis_on_one_port() -> None:
    from claudegate.client import HttpToolsTransport
    from claudegate.providers import ProviderRequest, SalesforceProvider

    proc, port = _start_sim("--salesforce")
    base_url = f"http://127.0.0.1:{port}"
    transport = HttpToolsTransport()
    try:
        provider = SalesforceProvider(
            token_url=f"{base_url}/services/oauth2/token",
            api_base_url=base_url,
            client_id="sim-client",
            client_secret="sim-secret",
            transport=transport,
        )
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hi coast"}],
        }
        answer = await provider.create(ProviderRequest(body=body))
        assert "coast" in answer.message["content"][0]["text"]
        with Client(api_key="sk-any-key-0001", base_url=base_url) as client:
            message = client.messages.create(
                model="claude-sonnet-5", max_tokens=32, messages=[{"role": "user", "content": "ping"}]
            )
        assert message.stop_reason == "end_turn"
    finally:
        await transport.aclose()
        proc.terminate()
        proc.communicate(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("port", ["0", "free"])
def test_serve_announces_the_gateway_only_once_it_listens(port: str) -> None:
    asked = str(_free_port()) if port == "free" else port
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudegate.cli", "serve", "--port", asked, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = ""
        for raw in proc.stdout:  # blocks until the gateway prints; ends if it exits
            line = raw.decode()
            if "claudegate gateway on " in line:
                banner = line
                break
        assert banner, f"no banner; exit status {proc.poll()}"
        base_url = banner.split(" on ", 1)[1].strip()
        host, bound = base_url.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1"
        assert bound == asked if port == "free" else int(bound) > 0
        # The banner is the signal to connect: the very first attempt must succeed.
        socket.create_connection((host, int(bound)), timeout=5).close()
        with urllib.request.urlopen(f"{base_url}/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=15)

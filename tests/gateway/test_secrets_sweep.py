"""One run of every surface with every kind of key, the gateway at debug log level: no key shows in
anything it printed — gateway keys (header, bearer, subprotocol, first message), the admin key, the
upstream's key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from websockets.asyncio.client import connect

from claudegate.gateway.surfaces.websocket import PROTOCOL
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._process import wait_for_banner
from tests.gateway._ws import ASK, open_session, send, stream, ws_url

ADMIN_KEY = "admin-sweep-secret-0123456789abcdef"
UPSTREAM_KEY = "sk-ant-sweep-upstream-0123456789abcdef"
CHAT = {"model": "claude-sonnet-5", "messages": ASK["messages"]}


def fragments(secret: str) -> list[str]:
    """The secret and long pieces of it (a log that cuts a key still leaks most of it)."""
    return [secret, secret[:16], secret[-16:], secret[8:24]]


async def test_every_surface_at_debug_level_prints_no_key(tmp_path: Path) -> None:
    with LiveServer(create_simulator()) as upstream:
        deployment = {
            "provider": "anthropic",
            "base_url": upstream.base_url,
            "api_key": "env:CG_SWEEP_UPSTREAM",
        }
        config = {
            "models": [{"name": "*", "deployments": [deployment]}],
            "auth": {"admin_key": "env:CG_SWEEP_ADMIN", "cache_seconds": 0},
            "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'sweep.db'}"},
        }
        (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {**os.environ, "CG_SWEEP_ADMIN": ADMIN_KEY, "CG_SWEEP_UPSTREAM": UPSTREAM_KEY, "NO_COLOR": "1"}
        command = [sys.executable, "-m", "claudegate.cli", "serve", "--config", "gateway.yaml", "--port", "0"]
        process = subprocess.Popen(
            [*command, "--log-level", "debug"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        answers: list[str] = []
        try:
            base = wait_for_banner(process)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            created = _wire.call(base, "POST", "/admin/keys", {"name": "sweep"}, admin)
            assert created.status == 201
            key = created.json()["key"]
            replies = [
                _wire.messages(base, ASK, {"x-api-key": key}),
                _wire.messages(base, {**ASK, "stream": True}, {"x-api-key": key}),
                _wire.chat(base, CHAT, {"authorization": f"Bearer {key}"}),
                _wire.chat(base, {**CHAT, "stream": True}, {"authorization": f"Bearer {key}"}),
                _wire.post(base, "/v1/messages/count_tokens", CHAT, {"x-api-key": key}),
                _wire.call(base, "GET", "/v1/models", None, {"x-api-key": key}),
                _wire.call(base, "GET", "/metrics", None, {"x-api-key": key}),
                _wire.call(base, "GET", "/health/deployments", None, admin),
                _wire.call(base, "GET", "/admin/keys", None, admin),
                _wire.messages(base, ASK, {"x-api-key": key + "-wrong"}),
                _wire.messages(base, ASK, {"x-sim-fault": "500", "x-api-key": key}),
            ]
            assert [reply.status for reply in replies] == [200] * 9 + [401, 500]
            answers += [reply.body.decode("utf-8", "replace") for reply in replies]
            url = ws_url(base)
            async with connect(url, additional_headers={"x-api-key": key}) as ws:
                await open_session(ws)
                await stream(ws, "s1", ASK)
            async with connect(url, subprotocols=[PROTOCOL, f"claudegate.key.{key}"]) as ws:  # type: ignore[list-item]
                await open_session(ws)
            async with connect(url) as ws:
                await send(ws, {"type": "session.auth", "key": key})
                answers.append(str(await open_session(ws)))
        finally:
            process.terminate()
            stdout, stderr = process.communicate(timeout=15)
    output = (stdout + stderr).decode("utf-8", "replace")
    # What stderr says of the traffic (the banner on stdout may be read with the base URL): debug
    # lines, and the access log's lines of HTTP calls and of the WebSocket call.
    assert "DEBUG:" in output, "no debug output captured"
    assert '"route":"/v1/messages"' in output and '"route":"/v1/ws"' in output, "no access log captured"
    for secret in (key, ADMIN_KEY, UPSTREAM_KEY):
        for piece in fragments(secret):
            assert piece not in output, "a key in the debug log"
            assert all(piece not in answer for answer in answers), "a key in an answer"

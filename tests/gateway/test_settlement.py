"""Every call is settled exactly once — one ledger row, the gauges back to rest — however it ends:
normally, with an upstream error, with the client leaving mid-stream, or cancelled."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from claudegate.gateway import GatewayApp, create_app, parse_config
from claudegate.gateway.core import Call, Principal
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._ledger import rows

ASK = {"model": "claude-sonnet-5", "max_tokens": 64, "messages": [{"role": "user", "content": "settle me"}]}
SLOW = {"x-sim-latency": "event=50ms"}


class LoopProbe:
    """Wraps the gateway app to learn its event loop (to count its tasks from the test thread)."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)

    def tasks(self) -> int:
        assert self.loop is not None

        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(5)


def config(db: Path, upstream: str | None = None) -> dict[str, Any]:
    deployment: dict[str, Any] = {"provider": "simulator"}
    if upstream is not None:
        deployment = {"provider": "anthropic", "base_url": upstream, "api_key": "env:SETTLE_UPSTREAM_KEY"}
    return {
        "models": [{"name": "*", "deployments": [deployment]}],
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


def answered(base_url: str, count: int, status: str) -> str:
    """The metrics text once ``count`` requests were answered with ``status`` (each request is
    counted after its call settled; the wait is bounded)."""
    deadline = time.monotonic() + 30
    text = _wire.metrics(base_url)
    while _wire.metric(text, "claudegate_requests_total", status=status) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
        text = _wire.metrics(base_url)
    return text


def test_normal_ends_and_upstream_errors_each_write_one_row(db: Path) -> None:
    app = create_app(parse_config(config(db)))
    with LiveServer(app) as server:
        base = server.base_url
        replies = [
            _wire.messages(base, ASK),
            _wire.messages(base, {**ASK, "stream": True}),
            _wire.chat(base, {"model": "claude-sonnet-5", "messages": ASK["messages"], "stream": True}),
            _wire.messages(base, ASK, {"x-sim-fault": "500"}),
            _wire.messages(base, {**ASK, "stream": True}, {"x-sim-fault": "error-mid:3"}),
            _wire.messages(base, {**ASK, "model": "claude-sonnet-5", "max_tokens": "x"}),
        ]
    written = rows(db)
    ids = [row["request_id"] for row in written]
    # The malformed request never became a call: no row. Every call has exactly one.
    assert ids == [reply.headers["request-id"] for reply in replies[:5]]
    assert [row["status"] for row in written] == [200, 200, 200, 500, 529]
    assert [row["stream"] for row in written] == [0, 1, 1, 0, 1]
    assert all(row["output_tokens"] > 0 for row in written[:3])


def test_a_thousand_clients_leaving_mid_stream_settle_once_each_and_leak_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_UPSTREAM_KEY", "sk-ant-settle-0000000000")
    with LiveServer(create_simulator()) as upstream:
        probe = LoopProbe(create_app(parse_config(config(db, upstream.base_url))))
        with LiveServer(probe) as server:
            base = server.base_url
            _wire.messages(base, ASK)  # the upstream pool and the ledger writer are warm
            answered(base, 1, "200")
            tasks_before = probe.tasks()
            fds_before = len(os.listdir("/proc/self/fd"))
            ids = []
            for _ in range(1000):
                connection, response = _wire.start(
                    base, "POST", "/v1/messages", {**ASK, "stream": True}, SLOW
                )
                assert response.status == 200
                assert response.read1(64)
                ids.append(response.headers["request-id"])
                connection.close()
            text = answered(base, 1000, "499")
            assert _wire.metric(text, "claudegate_requests_total", status="499") == 1000
            assert _wire.metric(text, "claudegate_active_streams") == 0
            assert _wire.metric(text, "claudegate_client_disconnects_total") == 1000
            assert probe.tasks() <= tasks_before
            # Upstream connections of cut streams are closed, not pooled; a few idle ones may stay.
            assert len(os.listdir("/proc/self/fd")) <= fds_before + 8
    written = rows(db)
    assert sorted(row["request_id"] for row in written[1:]) == sorted(ids)
    assert {row["status"] for row in written[1:]} == {499}


async def test_a_cancelled_call_settles_once(db: Path) -> None:
    app = create_app(parse_config(config(db)))
    await app.startup()
    try:
        call = Call(Principal(), "anthropic", {**ASK, "stream": True}, stream=True, headers=SLOW)
        reply = await app.core.stream(call)
        seen = asyncio.Event()

        async def read() -> None:
            try:
                async for _ in reply.batches():
                    seen.set()
            finally:
                await reply.aclose()

        reader = asyncio.create_task(read())
        await seen.wait()
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert call.outcome.settled and call.outcome.status == 499
        await reply.aclose()  # a second close settles nothing more
        assert app.core.runtime.active == 0
    finally:
        await app.shutdown()
    written = rows(db)
    assert [row["request_id"] for row in written] == [call.request_id]
    assert written[0]["status"] == 499 and written[0]["dialect"] == "anthropic"

"""Scale-out: two ``claudegate serve`` processes sharing PostgreSQL and Redis enforce one key's limit
together and write one ledger; an unreachable Redis follows the configured failure policy."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from claudegate.store import Database, KeyLimits, KeyStore
from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route
from tests.store.conftest import POSTGRES_URL, REDIS_URL, delete_prefixed_keys

ASK = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
LIMIT = 100
REQUESTS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[tuple[Path, Database, str]]:
    """A config on the real PostgreSQL and Redis, in tables and keys of this test's own."""
    tag = secrets.token_hex(5)
    database = await Database.connect(POSTGRES_URL, table_prefix=f"t{tag}_")
    config = {
        "models": [simulator_route()],
        "auth": {"cache_seconds": 30},
        "storage": {
            "database_url": POSTGRES_URL,
            "table_prefix": f"t{tag}_",
            "redis_url": REDIS_URL,
            "redis_prefix": f"cgtest{tag}",
        },
        # Its stderr is read only when it fails to start: no access-log line per request to fill the pipe.
        "observability": {"access_log": {"enabled": False}},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path, database, f"cgtest{tag}"
    finally:
        await database.drop_tables()
        await database.close()
        await delete_prefixed_keys(f"cgtest{tag}")


def start_gateway(config: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "claudegate.cli", "serve", "--config", str(config), "--port", str(port)]
    return subprocess.Popen(
        [*command, "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        try:
            if _wire.call(base_url, "GET", "/ready", timeout=1).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} never became ready")


def gateways(config: Path) -> Iterator[list[str]]:
    ports = [free_port(), free_port()]
    processes = [start_gateway(config, port) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_ready(url, process)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)  # a clean shutdown: the ledger is flushed
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


async def test_two_processes_share_one_limit_and_one_ledger(shared: tuple[Path, Database, str]) -> None:
    config, database, _ = shared
    created = await KeyStore(database).create("shared", limits=KeyLimits(requests_per_minute=LIMIT))
    headers = {"x-api-key": created.plaintext}
    answers: list[tuple[int, str, int]] = []
    for urls in gateways(config):

        def one(index: int, urls: list[str] = urls) -> tuple[int, str, int]:
            reply = _wire.messages(urls[index % 2], ASK, headers)
            return index % 2, reply.headers["request-id"], reply.status

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(REQUESTS)))
    admitted = [(side, request_id) for side, request_id, status in answers if status == 200]
    refused = [status for _, _, status in answers if status != 200]
    assert abs(len(admitted) - LIMIT) <= LIMIT * 0.02, len(admitted)
    assert set(refused) == {429}
    assert {side for side, _ in admitted} == {0, 1}  # both processes admitted some
    table = database.tables.usage
    async with database.engine.connect() as connection:
        written = (await connection.execute(select(table.c.request_id, table.c.key_id, table.c.status))).all()
    assert sorted(row[0] for row in written if row[2] == 200) == sorted(
        request_id for _, request_id in admitted
    )
    assert sorted(row[2] for row in written) == sorted(status for _, _, status in answers)  # refusals too
    assert {row[1] for row in written} == {created.key.id}


@pytest.mark.parametrize(
    ("policy", "ready", "admitted"), [("fail_closed", 503, 429), ("fail_open", 200, 200)]
)
def test_unreachable_redis_follows_the_failure_policy(policy: str, ready: int, admitted: int) -> None:
    config: dict[str, Any] = {
        "models": [simulator_route()],
        "limits": {"per_key": {"requests_per_minute": 1000}},
        "storage": {"database_url": "sqlite+aiosqlite:///:memory:", "redis_url": "redis://127.0.0.1:1/0"},
    }
    config["storage"]["redis_failure_policy"] = policy
    with serve(config) as live:
        probe = _wire.call(live.base_url, "GET", "/ready")
        reply = _wire.messages(live.base_url, ASK)
    assert probe.status == ready
    assert probe.json()["counters"]["policy"] == policy and probe.json()["counters"]["ok"] is False
    assert reply.status == admitted

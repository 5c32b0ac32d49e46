"""No API key leaks while the gateway fails: not in logs, error bodies, reprs, /metrics or health.

The fault matrix's scenarios run with recognisable keys (the deployments' key from the
environment, the clients' ``x-api-key`` and bearer key); everything a user or an operator could
see is then searched for them, whole or as a long fragment. A ``claudegate serve`` subprocess at
debug log level is checked the same way through its stdout and stderr.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml

from claudegate.simulator import SimulatorConfig
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway._matrix import (
    ANTHROPIC_CLIENT,
    CELLS,
    CLIENT_KEY,
    DEPLOYMENT_KEY,
    DEPLOYMENT_KEY_ENV,
    FAILURES,
    MODEL,
    READ_TIMEOUT,
    Cell,
    Lane,
    matrix,
    request,
    send,
)

KEYS = (DEPLOYMENT_KEY, CLIENT_KEY)


def _fragments(key: str) -> list[str]:
    """The key and its distinctive tail (a partly masked key that keeps 12 characters still leaks)."""
    return [key, key[-12:]]


def assert_no_key(texts: Iterable[str], where: str) -> None:
    for text in texts:
        for key in KEYS:
            for fragment in _fragments(key):
                assert fragment not in text, f"{where} shows a key: {text[:400]!r}"


def _reply_text(reply: _wire.Reply) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in reply.headers.items())
    return headers + "\n\n" + reply.body.decode("utf-8", "replace")


def _run_cell(lane: Lane) -> list[str]:
    """The cell's failing requests and one more: every answer, headers and body."""
    seen = []
    for _ in range(FAILURES + 1):
        reply, _elapsed = send(lane)
        seen.append(_reply_text(reply))
    return seen


def _log_text(record: logging.LogRecord) -> str:
    text = f"{record.name} {record.levelname} {record.getMessage()} {record.args!r}"
    if record.exc_info is not None:
        text += logging.Formatter().formatException(record.exc_info)
    return text


@contextmanager
def _listening(handler: logging.Handler) -> Iterator[None]:
    """Every ``claudegate`` and ``uvicorn`` record at DEBUG into ``handler`` (uvicorn's loggers
    do not propagate and are set to the servers' level when they start, so they get it directly)."""
    names = ("claudegate", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_the_fault_matrix_shows_no_key_in_logs_answers_reprs_metrics_or_health(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEPLOYMENT_KEY_ENV, DEPLOYMENT_KEY)
        with matrix() as served, _listening(caplog.handler):
            answers: list[str] = []
            for cell in CELLS:
                answers += _run_cell(served.lane(cell, breaker=False))
            # A request whose only deployment answers with its own failure, both dialects.
            failing = served.lane(Cell("500", False, "anthropic"), breaker=False)
            reply = _wire.call(
                failing.base_url, "POST", "/v1/messages", {"model": "no-such-model"}, ANTHROPIC_CLIENT
            )
            answers.append(_reply_text(reply))
            base = served.live.base_url
            metrics = _wire.metrics(base)
            health = _wire.call(base, "GET", "/health/deployments")
            app = served.live.app
            reprs = [
                repr(app),
                repr(app.core),
                repr(app.core.config),
                str(app.core.config.model_dump()),
                *(repr(route) for route in app.core.router.routes),
                *(
                    repr(deployment.provider)
                    for route in app.core.router.routes
                    for deployment in route.deployments
                ),
            ]
    assert answers and any("upstream" in text for text in answers)  # the failures were answered
    assert_no_key(answers, "an answer")
    assert "claudegate_" in metrics
    assert_no_key([metrics], "/metrics")
    assert health.status == 200 and b"last_error" in health.body
    assert_no_key([_reply_text(health)], "/health/deployments")
    assert_no_key(reprs, "a repr")
    records = caplog.records
    assert any(record.name == "uvicorn.access" for record in records), "the capture is not working"
    assert_no_key((_log_text(record) for record in records), "a log record")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "claudegate serve exited"
        try:
            if _wire.call(base_url, "GET", "/health/deployments", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("claudegate serve did not start within 15 s")


def test_a_serve_process_at_debug_level_prints_no_key(tmp_path: Path) -> None:
    with ExitStack() as stack:
        faulty = stack.enter_context(LiveServer(create_simulator(SimulatorConfig(stall_timeout=5))))
        healthy = stack.enter_context(LiveServer(create_simulator()))
        deployment = {"provider": "anthropic", "api_key": f"env:{DEPLOYMENT_KEY_ENV}"}
        config = {
            "gateway": {"timeouts": {"connect": 1, "read": READ_TIMEOUT, "total": 10}},
            "models": [
                {
                    "name": MODEL,
                    "breaker": {"failure_threshold": 2, "open_duration": 0.2},
                    "deployments": [
                        {**deployment, "name": "one", "base_url": faulty.base_url, "priority": 1},
                        {**deployment, "name": "two", "base_url": healthy.base_url, "priority": 2},
                    ],
                }
            ],
        }
        (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        port = _free_port()
        command = [str(Path(sys.executable).with_name("claudegate")), "serve", "--config", "gateway.yaml"]
        command += ["--port", str(port), "--log-level", "debug"]
        env = {**os.environ, DEPLOYMENT_KEY_ENV: DEPLOYMENT_KEY, "NO_COLOR": "1"}
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, process)
            answers = []
            for cell in CELLS:
                # The fault header reaches both deployments: failover, then the last error answered.
                reply, _elapsed = request(base, MODEL, cell, {"x-sim-fault": f"{cell.fault};times=1"})
                answers.append(_reply_text(reply))
            answers.append(_wire.metrics(base))
            answers.append(_reply_text(_wire.call(base, "GET", "/health/deployments")))
        finally:
            process.terminate()
            try:
                stdout, stderr = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
    output = (stdout + stderr).decode("utf-8", "replace")
    assert "POST /v1/messages" in output and "POST /v1/chat/completions" in output  # the log was captured
    assert_no_key([output], "claudegate serve's output")
    assert_no_key(answers, "an answer of claudegate serve")

"""The access log: one JSON line per HTTP request with the documented fields, and no key in any."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.gateway import create_app, parse_config
from claudegate.gateway._access_log import ACCESS_LOGGER, FIELDS, attach_handler
from claudegate.gateway._config import AccessLogConfig
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import simulator_route

ADMIN = "admin-secret-for-access-log-0123456789"
ASK = {
    "model": "claude-sonnet-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "a private prompt"}],
}
CHAT = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "a private prompt"}]}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The access log's lines, as ``claudegate serve`` writes them (JSON when not on a terminal)."""
    stream = io.StringIO()
    logger = logging.getLogger(ACCESS_LOGGER)
    level, propagate = logger.level, logger.propagate
    handler = attach_handler(AccessLogConfig(format="auto"), stream)
    assert handler is not None
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _anthropic(key: str, **extra: str) -> dict[str, str]:
    return {"anthropic-version": "2023-06-01", "x-api-key": key, **extra}


def _openai(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


def _mixed(index: int, keys: list[str]) -> tuple[str, str, Any, dict[str, str], int]:
    """Request ``index`` of the mix: (method, path, body, headers, expected status)."""
    key = keys[index % len(keys)]
    fault = {"x-sim-fault": "529"}
    kinds: list[tuple[str, str, Any, dict[str, str], int]] = [
        ("POST", "/v1/messages", ASK, _anthropic(key), 200),
        ("POST", "/v1/messages", {**ASK, "stream": True}, _anthropic(key), 200),
        ("POST", "/v1/chat/completions", CHAT, _openai(key), 200),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, _openai(key), 200),
        ("POST", "/v1/messages", ASK, _anthropic(key, **fault), 529),
        ("POST", "/v1/chat/completions", CHAT, _openai(key, **fault), 529),
        ("POST", "/v1/messages", ASK, _anthropic("sk-not-a-key-of-this-gateway-0000"), 401),
        ("POST", "/v1/messages", b"{not json", _anthropic(key), 400),
        (
            "POST",
            "/v1/messages/count_tokens",
            {k: v for k, v in ASK.items() if k != "max_tokens"},
            _anthropic(key),
            200,
        ),
        ("GET", "/v1/models", None, _openai(key), 200),
    ]
    return kinds[index % len(kinds)]


def test_two_hundred_mixed_requests_make_two_hundred_lines_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: io.StringIO
) -> None:
    monkeypatch.setenv("CG_ACCESS_ADMIN_KEY", ADMIN)
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_ACCESS_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"},
    }
    app = create_app(parse_config(config))
    with LiveServer(app) as server:
        admin = {"authorization": f"Bearer {ADMIN}"}
        created = [
            _wire.call(server.base_url, "POST", "/admin/keys", {"name": name}, admin).json()
            for name in ("team-red", "team-blue")
        ]
        keys = [key["key"] for key in created]
        names = {key["id"]: key["name"] for key in created}
        replies: dict[str, tuple[str, Any, int]] = {}
        for index in range(200):
            method, path, body, headers, status = _mixed(index, keys)
            reply = _wire.call(server.base_url, method, path, body, headers)
            assert reply.status == status, (path, reply.body)
            replies[reply.headers["request-id"]] = (path, body, status)

    # The two key creations' lines may be written after their answers reached the client: they are
    # counted, not cut off at a point in time.
    every = captured.getvalue().splitlines()
    creations = [line for line in every if orjson.loads(line)["route"] == "/admin/keys"]
    lines = [line for line in every if line not in creations]
    assert len(creations) == 2 and len(lines) == 200
    for line in every:  # no key, whole or by its distinctive tail, and no prompt or completion
        for secret in (*keys, ADMIN):
            assert secret not in line and secret[-12:] not in line, line
        assert "a private prompt" not in line
    entries = [orjson.loads(line) for line in lines]
    assert {entry["request_id"] for entry in entries} == set(replies)
    for entry in entries:
        assert tuple(entry) == FIELDS
        path, body, status = replies[entry["request_id"]]
        assert entry["status"] == status
        assert entry["route"] == path
        assert entry["latency_ms"] > 0
        if status == 401:
            assert entry["key_id"] is None and entry["error_type"] == "authentication_error"
        elif path in ("/v1/messages", "/v1/chat/completions") and status != 400:
            assert names[entry["key_id"]] == entry["key_name"]
            assert entry["surface"] == ("anthropic" if path == "/v1/messages" else "openai")
            assert entry["model"] == "claude-sonnet-5"
            assert entry["deployment"] and entry["attempts"] == 1
            assert entry["stream"] is (isinstance(body, dict) and body.get("stream") is True)
            assert entry["ttfb_ms"] is not None and entry["ttfb_ms"] <= entry["latency_ms"]
            if status == 200:
                assert entry["input_tokens"] > 0 and entry["output_tokens"] > 0 and entry["cost"] > 0
                assert entry["error_type"] is None
            else:
                assert entry["error_type"] == "overloaded_error"
    kinds = {(entry["surface"], entry["stream"], entry["status"]) for entry in entries}
    assert {("anthropic", True, 200), ("openai", True, 200), ("anthropic", False, 529)} <= kinds


def test_lines_are_readable_on_a_terminal_and_carry_the_clients_trace_id(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    logger = logging.getLogger(ACCESS_LOGGER)
    level, propagate = logger.level, logger.propagate
    handler = attach_handler(AccessLogConfig(), stream)
    assert handler is not None
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        parent = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
        app = create_app(parse_config({"models": [simulator_route()]}))
        with LiveServer(app) as server:  # its exit waits for the line, written after the answer
            reply = _wire.messages(server.base_url, ASK, parent)
        assert reply.status == 200
        handler.setFormatter(logging.Formatter())  # as an application's own handler would
        with LiveServer(app) as server:
            json_reply = _wire.messages(server.base_url, ASK, parent)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    readable, raw = stream.getvalue().splitlines()
    assert readable.startswith(tuple("0123456789"))
    assert " 200 POST /v1/messages claude-sonnet-5 " in readable
    assert reply.headers["request-id"] in readable
    assert orjson.loads(raw)["trace_id"] == trace  # the message itself is the JSON line
    assert orjson.loads(raw)["request_id"] == json_reply.headers["request-id"]


def test_an_access_log_configured_off_writes_nothing(captured: io.StringIO) -> None:
    app = create_app(
        parse_config({"models": [simulator_route()], "observability": {"access_log": {"enabled": False}}})
    )
    with LiveServer(app) as server:
        assert _wire.messages(server.base_url, ASK).status == 200
    assert captured.getvalue() == ""

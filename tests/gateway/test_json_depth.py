"""Deeply nested JSON is refused at parse time with a 400 naming the limit, in both dialects, at
every depth — never a recursion error, a 500, or a mark against the deployment's health."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from claudegate._json import MAX_JSON_DEPTH
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live

ASK = [{"role": "user", "content": "deep"}]
DEPTHS = [MAX_JSON_DEPTH + 1, 200, 251, 254, 255, 256, 257, 1000, 1024, 1025, 5000, 10_000]


PLACEHOLDER = "__nested__"


def deep(body: dict[str, Any], levels: int) -> bytes:
    """``body`` as JSON with ``levels`` nested arrays where ``PLACEHOLDER`` stands (built as bytes:
    no encoder would write what is being tested)."""
    return orjson.dumps(body).replace(b'"' + PLACEHOLDER.encode() + b'"', b"[" * levels + b"]" * levels)


def anthropic(total: int) -> bytes:
    """A Messages request ``total`` levels deep: body 1, tools 2, tool 3, input_schema 4, examples 5."""
    schema = {"type": "object", "properties": {}, "examples": PLACEHOLDER}
    tool = {"name": "deep", "description": "deep", "input_schema": schema}
    body = {"model": "claude-sonnet-5", "max_tokens": 16, "messages": ASK, "tools": [tool]}
    return deep(body, total - 4)


def chat(total: int) -> bytes:
    """A Chat Completions request ``total`` levels deep (tools 2, tool 3, function 4, parameters 5)."""
    function = {"name": "deep", "parameters": {"type": "object", "examples": PLACEHOLDER}}
    body = {
        "model": "claude-sonnet-5",
        "messages": ASK,
        "tools": [{"type": "function", "function": function}],
    }
    return deep(body, total - 5)


def post(base_url: str, path: str, body: bytes) -> _wire.Reply:
    headers = _wire.ANTHROPIC_HEADERS if path == "/v1/messages" else _wire.OPENAI_HEADERS
    return _wire.post(base_url, path, body, headers)


def states(base_url: str) -> list[tuple[str, int, int]]:
    """Each deployment's state, calls and failures: a refused body reaches none of them."""
    deployments = _wire.call(base_url, "GET", "/health/deployments").json()["deployments"]
    return [(item["state"], item["calls"], item["failures"]) for item in deployments]


@pytest.mark.parametrize("depth", DEPTHS)
def test_bodies_deeper_than_the_limit_get_a_400_naming_it(gateway: Live, depth: int) -> None:
    before = states(gateway.base_url)
    reply = post(gateway.base_url, "/v1/messages", anthropic(depth))
    assert reply.status == 400, reply.body[:200]
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in reply.json()["error"]["message"]
    reply = post(gateway.base_url, "/v1/chat/completions", chat(depth))
    assert reply.status == 400, reply.body[:200]
    assert f"deeper than {MAX_JSON_DEPTH} levels" in reply.json()["error"]["message"]
    assert states(gateway.base_url) == before


def test_a_body_at_the_limit_is_served(gateway: Live) -> None:
    assert post(gateway.base_url, "/v1/messages", anthropic(MAX_JSON_DEPTH)).status == 200
    assert post(gateway.base_url, "/v1/chat/completions", chat(MAX_JSON_DEPTH)).status == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 10_000])
def test_the_simulator_refuses_deep_bodies_too(depth: int) -> None:
    with LiveServer(create_simulator()) as simulator:
        reply = post(simulator.base_url, "/v1/messages", anthropic(depth))
        assert reply.status == 400
        assert f"deeper than {MAX_JSON_DEPTH} levels" in reply.json()["error"]["message"]
        reply = post(simulator.base_url, "/v1/chat/completions", chat(depth))
        assert reply.status == 400

"""Failover: a route whose first deployment is down is answered by the next one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from claudegate.sse import validate_anthropic_sse
from claudegate.translate import validate_chat_sse
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

ASK = {"model": "", "max_tokens": 40, "messages": [{"role": "user", "content": "who answers"}]}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    backup = {"provider": "simulator", "model": "claude-sonnet-5", "name": "backup", "priority": 2}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GW_TEST_DEAD_KEY", "sk-ant-api03-dead-upstream-0000")
        dead = {
            "provider": "anthropic",
            "name": "dead",
            "base_url": f"http://127.0.0.1:{closed_port()}",
            "api_key": "env:GW_TEST_DEAD_KEY",
            "timeouts": {"connect": 2, "read": 5, "total": 5},
        }
        overloaded = {
            "provider": "simulator",
            "name": "overloaded",
            "model": "claude-sonnet-5",
            "simulator": {"fault": "529"},
        }
        config = {
            "models": [
                {"name": "refused-first", "deployments": [dead, backup]},
                {"name": "overloaded-first", "deployments": [backup, overloaded | {"priority": 1}]},
                {"name": "all-down", "deployments": [dead, overloaded]},
                {"name": "unreachable", "deployments": [dead]},
            ]
        }
        with serve(config) as gateway:
            yield gateway


def answered_by(live: Live, model: str, call: int) -> float:
    return _wire.metric(
        _wire.metrics(live.base_url),
        "claudegate_requests_total",
        model=model,
        deployment="backup",
        status=str(call),
    )


@pytest.mark.parametrize("model", ["refused-first", "overloaded-first"])
def test_the_second_deployment_answers_json(live: Live, model: str) -> None:
    before = answered_by(live, model, 200)
    reply = _wire.messages(live.base_url, {**ASK, "model": model})
    assert reply.status == 200, reply.body
    assert "who answers" in reply.json()["content"][0]["text"]
    assert answered_by(live, model, 200) - before == 1


@pytest.mark.parametrize("model", ["refused-first", "overloaded-first"])
def test_the_second_deployment_answers_streams_in_both_dialects(live: Live, model: str) -> None:
    reply = _wire.messages(live.base_url, {**ASK, "model": model, "stream": True})
    assert reply.status == 200
    assert "who answers" in validate_anthropic_sse(reply.body)["content"][0]["text"]
    chat = _wire.chat(live.base_url, {"model": model, "stream": True, "messages": ASK["messages"]})
    assert "who answers" in validate_chat_sse(chat.body)["content"]


def test_when_every_deployment_fails_the_last_error_is_answered(live: Live) -> None:
    reply = _wire.messages(live.base_url, {**ASK, "model": "all-down"})
    assert reply.status == 529
    assert reply.json()["error"]["type"] == "overloaded_error"


def test_an_unreachable_upstream_is_a_clear_5xx_in_each_dialect(live: Live) -> None:
    reply = _wire.messages(live.base_url, {**ASK, "model": "unreachable"})
    assert reply.status == 502
    assert reply.json()["error"]["type"] == "api_error"
    chat = _wire.chat(live.base_url, {"model": "unreachable", "messages": ASK["messages"]})
    assert chat.status == 502 and chat.json()["error"]["message"]

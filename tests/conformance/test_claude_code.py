"""Claude Code (the real ``claude`` CLI, pinned in package.json) completes tasks against claudegate.

Every run is ``claude -p`` with ``ANTHROPIC_BASE_URL`` at the ``server`` fixture (see conftest),
offline and non-interactive (see ``_claude_code``). The fault tests ask the upstream for a failure
with ``x-sim-fault`` (sent by Claude Code through ``ANTHROPIC_CUSTOM_HEADERS``), so a gateway put in
front must forward that header to the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conformance._claude_code import API_KEY, run_claude
from tests.conformance._egress_trap import EgressTrap
from tests.conformance._recorder import Exchange
from tests.conformance.conftest import RecordedServer

ECHO_PROMPT = "Please repeat the word zanzibar"
TOOL_PROMPT = "Use the Read tool on zanzibar.txt"
MESSAGES_CALL = "POST /v1/messages?beta=true"
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def messages_calls(server: RecordedServer) -> list[Exchange]:
    return [exchange for exchange in server.exchanges if exchange.target == MESSAGES_CALL]


def text_of(message: dict[str, Any]) -> str:
    return "".join(block["text"] for block in message["content"] if block["type"] == "text").strip()


def fault_header(spec: str) -> dict[str, str]:
    return {"ANTHROPIC_CUSTOM_HEADERS": f"x-sim-fault: {spec}"}


def test_print_mode_prints_the_reply_the_server_streamed(server: RecordedServer, tmp_path: Path) -> None:
    run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path)

    assert run.returncode == 0, run.explain()
    [call] = messages_calls(server)
    reply = text_of(call.final_message())
    assert "zanzibar" in reply
    assert run.stdout.strip() == reply


def test_requests_are_the_ones_the_protocol_notes_describe(server: RecordedServer, tmp_path: Path) -> None:
    run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path)

    assert run.returncode == 0, run.explain()
    exchanges = server.exchanges
    assert sorted(exchange.target for exchange in exchanges) == ["HEAD /", MESSAGES_CALL]
    assert all(exchange.status == 200 for exchange in exchanges), [e.status for e in exchanges]
    [call] = messages_calls(server)
    headers = call.headers
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "claude-code-20250219" in headers["anthropic-beta"].split(",")
    assert headers["x-app"] == "cli"
    assert headers["anthropic-dangerous-direct-browser-access"] == "true"
    body = call.json()
    user_id = orjson.loads(body["metadata"]["user_id"])
    assert user_id["session_id"] == headers["x-claude-code-session-id"]
    assert body["stream"] is True
    assert body["max_tokens"] > 0
    assert body["thinking"] == {"type": "adaptive"}
    assert {"Bash", "Read", "Edit", "Write"} <= {tool["name"] for tool in body["tools"]}
    assert all(block["type"] == "text" for block in body["system"])
    assert any("cache_control" in block for block in body["system"])
    assert "system" in [message["role"] for message in body["messages"]]
    assert call.response_headers["content-type"].startswith("text/event-stream")


def test_a_streamed_tool_call_comes_back_intact_with_its_result(
    server: RecordedServer, tmp_path: Path
) -> None:
    run = run_claude(server.base_url, TOOL_PROMPT, workdir=tmp_path)

    assert run.returncode == 0, run.explain()
    first, second = messages_calls(server)
    streamed = first.final_message()
    assert streamed["stop_reason"] == "tool_use"
    [tool_use] = [block for block in streamed["content"] if block["type"] == "tool_use"]
    assert tool_use["name"] == "Read"

    messages = second.json()["messages"]
    [assistant] = [message for message in messages if message["role"] == "assistant"]
    assert [block["type"] for block in assistant["content"]] == [b["type"] for b in streamed["content"]]
    for block, echoed in zip(streamed["content"], assistant["content"], strict=True):
        if block["type"] == "tool_use":
            assert (echoed["id"], echoed["name"], echoed["input"]) == (block["id"], "Read", block["input"])
        elif block["type"] == "thinking":
            assert (echoed["thinking"], echoed["signature"]) == (block["thinking"], block["signature"])
        else:
            assert echoed["text"] == block["text"]
    results = [
        block
        for block in messages[-1]["content"]
        if block["type"] == "tool_result" and block["tool_use_id"] == tool_use["id"]
    ]
    assert len(results) == 1

    answer = second.final_message()
    assert answer["stop_reason"] == "end_turn"
    assert "Read tool" in text_of(answer)
    assert run.stdout.strip() == text_of(answer)


def test_reported_usage_adds_up_what_each_turn_streamed(server: RecordedServer, tmp_path: Path) -> None:
    run = run_claude(server.base_url, TOOL_PROMPT, "--output-format", "json", workdir=tmp_path)

    assert run.returncode == 0, run.explain()
    result = orjson.loads(run.stdout)
    calls = messages_calls(server)
    finals = [call.final_message() for call in calls]
    assert result["is_error"] is False
    assert result["num_turns"] == len(calls) == 2
    assert result["result"].strip() == text_of(finals[-1])
    for key in USAGE_KEYS:
        assert result["usage"][key] == sum(final["usage"][key] for final in finals), key


def test_nothing_is_sent_anywhere_but_the_base_url(server: RecordedServer, tmp_path: Path) -> None:
    with EgressTrap() as trap:
        proxies = {"HTTPS_PROXY": trap.proxy_url, "HTTP_PROXY": trap.proxy_url, "NO_PROXY": "127.0.0.1"}
        proxies |= {name.lower(): value for name, value in proxies.items()}
        run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path, extra_env=proxies)

    assert run.returncode == 0, run.explain()
    assert trap.attempts == []
    assert len(messages_calls(server)) == 1


def test_an_overloaded_answer_is_retried_and_the_task_completes(
    server: RecordedServer, tmp_path: Path
) -> None:
    run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path, extra_env=fault_header("529;times=1"))

    assert run.returncode == 0, run.explain()
    refused, answered = messages_calls(server)
    assert refused.status == 529
    assert refused.response_json()["error"]["type"] == "overloaded_error"
    assert refused.response_headers["x-should-retry"] == "true"
    assert answered.status == 200
    assert run.stdout.strip() == text_of(answered.final_message())


@pytest.mark.parametrize("fault", ["error-mid:3;times=1", "reset-mid:3;times=1"])
def test_a_stream_that_breaks_after_its_first_byte_is_recovered(
    server: RecordedServer, tmp_path: Path, fault: str
) -> None:
    run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path, extra_env=fault_header(fault))

    assert run.returncode == 0, run.explain()
    broken, recovered = messages_calls(server)
    assert broken.status == 200
    assert recovered.status == 200
    assert run.stdout.strip() == text_of(recovered.final_message())


def test_a_rejected_key_ends_the_run_with_an_authentication_message(
    server: RecordedServer, tmp_path: Path
) -> None:
    run = run_claude(server.base_url, ECHO_PROMPT, workdir=tmp_path, extra_env=fault_header("401"))

    assert run.returncode != 0, run.explain()
    assert "Invalid API key" in run.stdout + run.stderr
    [call] = messages_calls(server)
    assert call.status == 401
    assert call.response_json()["error"]["type"] == "authentication_error"

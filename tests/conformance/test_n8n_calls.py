"""n8n's "OpenAI Chat Model" node, pointed at claudegate's OpenAI dialect, gets answers it can use.

``n8n_chat_model.mjs`` makes the node's calls with the ``openai`` npm client the node uses (see the
script's header for what each scenario stands for); these tests check what the node would read,
and what crossed the socket, recorded at the ``server`` fixture.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from claudegate.translate import validate_chat_sse
from tests.conformance._node import node_executable, node_package
from tests.conformance._recorder import Exchange
from tests.conformance.conftest import RecordedServer

SCRIPT = Path(__file__).resolve().parent / "n8n_chat_model.mjs"
API_KEY = "sk-n8n-conformance"
CHAT_CALL = "POST /v1/chat/completions"
WEATHER = "18 degrees celsius and light rain in Paris"  # the get_weather result the script sends back

jsonschema: Any = importlib.import_module("jsonschema")


def run_node(server: RecordedServer, scenario: str, model: str = "") -> Any:
    """Run one scenario of the script against the server's OpenAI dialect; its JSON output."""
    node_package("openai")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "N8N_BASE_URL": f"{server.base_url}/v1",
        "N8N_API_KEY": API_KEY,
        "N8N_MODEL": model,
    }
    completed = subprocess.run(
        [node_executable(), str(SCRIPT), scenario],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, f"{scenario} failed:\n{completed.stderr}"
    return orjson.loads(completed.stdout)


def picked_model(server: RecordedServer) -> str:
    """The first model the node's picker offers, as a user building a workflow would choose it."""
    model: str = run_node(server, "picker")["results"][0]["value"]
    return model


def chat_calls(server: RecordedServer) -> list[Exchange]:
    return [exchange for exchange in server.exchanges if exchange.target == CHAT_CALL]


def tool_schemas(call: Exchange) -> dict[str, Any]:
    return {tool["function"]["name"]: tool["function"]["parameters"] for tool in call.json()["tools"]}


def served_model_ids(server: RecordedServer) -> list[str]:
    request = urllib.request.Request(
        f"{server.base_url}/v1/models?limit=1000",
        headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [item["id"] for item in orjson.loads(response.read())["data"]]


def test_the_credential_check_passes(server: RecordedServer) -> None:
    assert run_node(server, "credential") == {"status": 200}
    [call] = server.exchanges
    assert call.target == "GET /v1/models"
    assert call.headers["authorization"] == f"Bearer {API_KEY}"


def test_the_model_picker_offers_every_model_the_server_serves(server: RecordedServer) -> None:
    results = run_node(server, "picker")["results"]

    assert results, "the picker would be empty"
    assert all(entry["name"] == entry["value"] for entry in results)
    assert sorted(entry["value"] for entry in results) == sorted(served_model_ids(server))
    listing = next(exchange for exchange in server.exchanges if exchange.target == "GET /v1/models")
    page = listing.response_json()
    assert page["object"] == "list"
    for item in page["data"]:
        assert item["object"] == "model"
        assert isinstance(item["created"], int)
        assert isinstance(item["owned_by"], str)


def test_an_agent_turn_gets_tool_calls_the_node_can_parse_and_run(server: RecordedServer) -> None:
    outcome = run_node(server, "agent", picked_model(server))

    first = outcome["first"]
    assert first["finish_reason"] == "tool_calls"
    assert first["invalid_tool_calls"] == []
    [tool_call] = first["tool_calls"]
    assert tool_call["name"] == "get_weather"
    assert tool_call["type"] == "function"
    assert tool_call["id"]
    request, follow_up = chat_calls(server)
    jsonschema.Draft7Validator(tool_schemas(request)["get_weather"]).validate(tool_call["args"])

    second = outcome["second"]
    assert second["finish_reason"] == "stop"
    assert WEATHER in second["content"]
    for turn in (first, second):
        usage = turn["usage"]
        assert usage["prompt_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert not any(exchange.path.startswith("/v1/responses") for exchange in server.exchanges)
    for call in (request, follow_up):
        assert call.status == 200
        assert call.headers["authorization"] == f"Bearer {API_KEY}"
        assert call.json()["stream"] is False
        assert call.response_headers["content-type"].startswith("application/json")


def test_a_streamed_agent_turn_merges_into_parallel_tool_calls(server: RecordedServer) -> None:
    outcome = run_node(server, "streaming-agent", picked_model(server))

    assert outcome["first_role"] == "assistant"
    assert outcome["finish_reason"] == "tool_calls"
    assert outcome["invalid_tool_calls"] == []
    fragments = outcome["fragments"]
    assert [fragment["index"] for fragment in fragments] == [0, 1]
    assert {fragment["name"] for fragment in fragments} == {"get_weather", "calculator"}
    for fragment in fragments:
        assert fragment["id"]
        assert fragment["type"] == "function"
        assert fragment["later_fragments_with_id_or_name"] == 0
    [call] = chat_calls(server)
    schemas = tool_schemas(call)
    for tool_call in outcome["tool_calls"]:
        jsonschema.Draft7Validator(schemas[tool_call["name"]]).validate(tool_call["args"])

    usage = outcome["usage"]
    assert usage["choices_in_usage_chunk"] == 0
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert call.json()["stream_options"] == {"include_usage": True}
    assert call.response_headers["content-type"].startswith("text/event-stream")
    validate_chat_sse(call.response_bytes(), include_usage=True)

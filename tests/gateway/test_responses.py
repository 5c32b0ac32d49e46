"""``POST /v1/responses`` through the gateway with the official ``openai`` SDK, over a real socket,
on every kind of route: the in-process simulator, an OpenAI-compatible upstream (the simulator's
``/v1/chat/completions``) and an Anthropic upstream (the simulator behind the ``anthropic``
provider). ``responses.stream`` is the SDK's own accumulator, which refuses events out of order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, Response, ResponseFunctionToolCall
from pydantic import BaseModel

from claudegate.gateway import GatewayApp, parse_config
from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from claudegate.translate import messages_request_to_chat
from tests.gateway import _ledger, _wire
from tests.gateway.conftest import Live, serve, simulator_route

UPSTREAM_MODEL = "claude-sonnet-5"
ROUTES = ("via-simulator", "via-openai", "via-anthropic")
KEY_ENV = "GW_RESPONSES_UPSTREAM_KEY"
ADMIN = "admin-secret-for-responses-0123456789"
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME: FunctionToolParam = {
    "type": "function",
    "name": "get_time",
    "description": "Local time in a zone",
    "parameters": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
    "strict": True,
}


class City(BaseModel):
    name: str
    population: int


def _maps_output_format_to_response_format() -> bool:
    """Whether structured outputs reach an OpenAI-compatible upstream as ``response_format`` (until
    then the upstream answers free text, which ``responses.parse`` cannot parse)."""
    chat = messages_request_to_chat(
        {
            "model": "m",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "x"}],
            "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        }
    )
    return "response_format" in chat


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("responses") / "gateway.db"


@pytest.fixture(scope="module")
def live(database: Path) -> Iterator[Live]:
    with (
        pytest.MonkeyPatch.context() as patch,
        LiveServer(create_simulator()) as openai_upstream,
        LiveServer(create_simulator()) as anthropic_upstream,
    ):
        patch.setenv(KEY_ENV, "sk-ant-api03-responses-upstream-0000")
        config = {
            "models": [
                {
                    "name": "via-simulator",
                    "deployments": [{"provider": "simulator", "model": UPSTREAM_MODEL}],
                },
                {
                    "name": "via-openai",
                    "deployments": [
                        {
                            "provider": "openai",
                            "base_url": openai_upstream.base_url + "/v1",
                            "model": UPSTREAM_MODEL,
                        }
                    ],
                },
                {
                    "name": "via-anthropic",
                    "deployments": [
                        {
                            "provider": "anthropic",
                            "base_url": anthropic_upstream.base_url,
                            "api_key": f"env:{KEY_ENV}",
                            "model": UPSTREAM_MODEL,
                        }
                    ],
                },
            ],
            "storage": {"database_url": f"sqlite+aiosqlite:///{database}"},
        }
        with serve(config) as gateway:
            yield gateway


@pytest.fixture(scope="module")
def client(live: Live) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live.base_url + "/v1", api_key="sk-client", max_retries=0) as sdk:
        yield sdk


def calls_of(response: Response) -> list[ResponseFunctionToolCall]:
    return [item for item in response.output if isinstance(item, ResponseFunctionToolCall)]


def dumped(response: Response) -> dict[str, Any]:
    """A response as plain data, without what the SDK's stream helper adds (``parsed``)."""
    data = response.model_dump()
    for item in data["output"]:
        for part in item.get("content") or ():
            part.pop("parsed", None)
    return data


def streamed(client: openai.OpenAI, **request: Any) -> tuple[Response, list[Any]]:
    """The final response of ``responses.stream`` and every event it validated on the way."""
    with client.responses.stream(**request) as stream:
        events = list(stream)
        final = stream.get_final_response()
    return final, events


@pytest.mark.parametrize("route", ROUTES)
def test_create_answers_and_stores_the_response(client: openai.OpenAI, route: str) -> None:
    response = client.responses.create(
        model=route, input="Say hello to the gateway.", instructions="Be brief."
    )
    assert response.status == "completed"
    assert response.output_text
    assert response.instructions == "Be brief."
    assert response.usage is not None and response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert client.responses.retrieve(response.id).model_dump() == response.model_dump()


@pytest.mark.parametrize("route", ROUTES)
def test_stream_events_come_in_order_and_end_with_the_whole_response(
    client: openai.OpenAI, route: str
) -> None:
    final, events = streamed(client, model=route, input="Tell me about tides.")
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == final.output_text != ""
    assert dumped(client.responses.retrieve(final.id)) == dumped(final)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("route", ROUTES)
def test_function_tools_over_several_turns_with_previous_response_id(
    client: openai.OpenAI, route: str, stream: bool
) -> None:
    def ask(**request: Any) -> Response:
        if stream:
            return streamed(client, model=route, tools=[WEATHER, TIME], **request)[0]
        response: Response = client.responses.create(model=route, tools=[WEATHER, TIME], **request)
        return response

    first = ask(input="Use get_weather for Paris and get_time for Europe/Paris.")
    calls = calls_of(first)
    assert {call.name for call in calls} == {"get_weather", "get_time"}  # parallel calls
    assert all(call.call_id and call.arguments.startswith("{") for call in calls)
    outputs: Any = [
        {"type": "function_call_output", "call_id": call.call_id, "output": f"result of {call.name}: 21"}
        for call in calls
    ]
    second = ask(previous_response_id=first.id, input=outputs)
    assert second.previous_response_id == first.id
    assert not calls_of(second)
    assert "result of get_weather: 21" in second.output_text
    third = ask(previous_response_id=second.id, input="And thank you.")
    assert third.status == "completed" and third.output_text


@pytest.mark.parametrize("route", ROUTES)
def test_parse_gives_the_pydantic_model(client: openai.OpenAI, route: str) -> None:
    if route == "via-openai" and not _maps_output_format_to_response_format():
        pytest.xfail("structured outputs do not yet reach OpenAI-compatible upstreams as response_format")
    parsed = client.responses.parse(model=route, input="A large city, please.", text_format=City)
    assert isinstance(parsed.output_parsed, City)
    with client.responses.stream(model=route, input="A large city, please.", text_format=City) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, City)


@pytest.mark.parametrize("route", ["via-simulator", "via-anthropic"])
def test_reasoning_summaries_and_continuing_after_thinking(client: openai.OpenAI, route: str) -> None:
    request: Any = {"model": route, "tools": [WEATHER], "reasoning": {"effort": "low", "summary": "auto"}}
    final, events = streamed(client, input="Use get_weather for Oslo.", **request)
    reasoning = [item for item in final.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == reasoning[0].summary[0].text
    assert final.usage is not None and 0 < final.usage.output_tokens_details.reasoning_tokens
    # The stored conversation replays the thinking block with its signature, which the upstream checks.
    [call] = calls_of(final)
    output: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "snow"}]
    after = client.responses.create(previous_response_id=final.id, input=output, **request)
    assert "snow" in after.output_text


def test_stateless_reasoning_round_trips_through_encrypted_content(client: openai.OpenAI) -> None:
    request: Any = {
        "model": "via-anthropic",
        "tools": [WEATHER],
        "reasoning": {"effort": "low"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    first = client.responses.create(input="Use get_weather for Rome.", **request)
    [reasoning] = [item for item in first.output if item.type == "reasoning"]
    assert reasoning.encrypted_content and reasoning.summary == []
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    [call] = calls_of(first)
    replay: Any = [
        {"role": "user", "content": "Use get_weather for Rome."},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "warm"},
    ]
    assert "warm" in client.responses.create(input=replay, **request).output_text


@pytest.mark.parametrize("route", ROUTES)
def test_a_cut_answer_is_incomplete(client: openai.OpenAI, route: str) -> None:
    response = client.responses.create(model=route, input="Tell me a long story.", max_output_tokens=4)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    with client.responses.stream(model=route, input="Tell me a long story.", max_output_tokens=4) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.incomplete"


def test_delete_forgets_and_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    kept = client.responses.create(model="via-simulator", input="Remember me.")
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError, match="not found"):
        client.responses.retrieve(kept.id)
    unkept = client.responses.create(model="via-simulator", input="Forget me.", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unkept.id)
    with pytest.raises(openai.NotFoundError) as refused:
        client.responses.create(model="via-simulator", input="Go on.", previous_response_id=unkept.id)
    assert refused.value.body["param"] == "previous_response_id"  # type: ignore[index]


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"include": ["file_search_call.results"]}, "include[0]"),
        ({"truncation": "auto"}, "truncation"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"reasoning": {"effort": "low"}, "temperature": 0.2}, "temperature"),
        ({"store": "yes"}, "store"),
    ],
)
def test_what_cannot_be_served_is_refused_naming_the_field(
    client: openai.OpenAI, request_fields: dict[str, Any], param: str
) -> None:
    body = {"model": "via-simulator", "input": "Hi", **request_fields}
    with pytest.raises(openai.BadRequestError) as refused:
        client.post("/responses", body=body, cast_to=Response)
    error: Any = refused.value.body
    assert error["param"] == param
    assert error["message"]


def test_responses_belong_to_their_key_and_are_counted_in_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CG_TEST_ADMIN_KEY", ADMIN)
    db = tmp_path / "keyed.db"
    config = {
        "models": [simulator_route()],
        "auth": {"admin_key": "env:CG_TEST_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{db}"},
    }
    with serve(config) as gateway:
        admin = {"authorization": f"Bearer {ADMIN}"}
        keys = [_wire.call(gateway.base_url, "POST", "/admin/keys", {"name": n}, admin).json() for n in "ab"]
        owner, other = (
            openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=key["key"], max_retries=0)
            for key in keys
        )
        response = owner.responses.create(model=UPSTREAM_MODEL, input="Mine.")
        assert owner.responses.retrieve(response.id).id == response.id
        with pytest.raises(openai.NotFoundError, match="not found"):
            other.responses.retrieve(response.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.create(model=UPSTREAM_MODEL, input="Go on.", previous_response_id=response.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(response.id)
        assert owner.responses.retrieve(response.id).id == response.id
    [row] = [row for row in _ledger.rows(db) if row["status"] == 200]  # the gateway flushed at shutdown
    assert (row["key_id"], row["dialect"]) == (keys[0]["id"], "openai")
    assert response.usage is not None and row["output_tokens"] == response.usage.output_tokens


def test_stored_responses_expire(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    config = parse_config(
        {
            "gateway": {"response_ttl": 60},
            "models": [simulator_route()],
            "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'ttl.db'}"},
        }
    )
    with LiveServer(GatewayApp(config, clock=lambda: now[0])) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-client", max_retries=0)
        response = client.responses.create(model=UPSTREAM_MODEL, input="Briefly kept.")
        assert response.created_at == now[0]
        now[0] += 59
        assert client.responses.retrieve(response.id).id == response.id
        now[0] += 2
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response.id)


def test_an_open_gateway_without_storage_keeps_responses_in_memory(gateway: Live) -> None:
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as client:
        first = client.responses.create(model=UPSTREAM_MODEL, input="Remember the number 7.")
        second = client.responses.create(
            model=UPSTREAM_MODEL, input="Which number?", previous_response_id=first.id
        )
        assert second.status == "completed"
        assert client.responses.retrieve(first.id).id == first.id


def test_an_upstream_failure_is_an_openai_error_before_the_stream_and_an_error_event_after(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        client.responses.create(model="via-simulator", input="Hi", extra_headers={"x-sim-fault": "529"})
    assert refused.value.status_code == 529
    events: list[Any] = []
    with (
        pytest.raises(openai.APIError, match=r"."),
        client.responses.stream(
            model="via-simulator", input="Tell me about tides.", extra_headers={"x-sim-fault": "error-mid:3"}
        ) as stream,
    ):
        events.extend(stream)
    assert events[0].type == "response.created"  # the stream had begun: the failure is an event

"""The engine in process: deterministic replies, the tool policy, stop sequences, max_tokens, thinking."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudegate.errors import BadRequestError, NotFoundError
from claudegate.simulator import Simulator, SimulatorConfig
from claudegate.sse import validate_anthropic_events
from tests.simulator._schema_check import violations

MODEL = "claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
CLOCK = {
    "name": "get_time",
    "description": "Local time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "pattern": "^[A-Z][a-z]+/[A-Z][a-z]+$"}},
        "required": ["zone"],
    },
}


def ask(text: str, **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
    }
    request.update(fields)
    return request


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


def test_a_reply_repeats_the_words_of_the_last_user_turn(sim: Simulator) -> None:
    message = sim.create(ask("Tell me about quokkas and their island"))
    text = message["content"][0]["text"]
    assert "You wrote: Tell me about quokkas and their island." in text
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == math.ceil(len(text) / 4)


def test_replies_are_deterministic_and_the_seed_changes_them(sim: Simulator) -> None:
    request = ask("same question twice", tools=[WEATHER])
    assert sim.create(request) == Simulator().create(copy.deepcopy(request))
    assert sim.events(request) == Simulator().events(request)
    assert Simulator(SimulatorConfig(seed=7)).create(request)["id"] != sim.create(request)["id"]
    assert sim.create(ask("a different question"))["id"] != sim.create(request)["id"]


def test_the_stream_accumulates_to_the_same_message(sim: Simulator) -> None:
    for request in (
        ask("plain words here"),
        ask("check get_weather and get_time please", tools=[WEATHER, CLOCK]),
        ask("think first", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048),
    ):
        events = sim.events(request)
        assert validate_anthropic_events(events) == sim.create(request)
        assert events[1]["type"] == "content_block_start" and events[2] == {"type": "ping"}


def test_stop_sequences_cut_the_text_before_the_first_match(sim: Simulator) -> None:
    message = sim.create(ask("one two three four five", stop_sequences=["never", "four"]))
    text = message["content"][0]["text"]
    assert text.endswith("one two three ")
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "four")
    assert message["usage"]["output_tokens"] == math.ceil(len(text) / 4)


@pytest.mark.parametrize("limit", [1, 2, 5, 9])
def test_max_tokens_is_honoured_exactly(sim: Simulator, limit: int) -> None:
    full = sim.create(ask("a fairly long prompt with many words in it to answer"))["content"][0]["text"]
    message = sim.create(ask("a fairly long prompt with many words in it to answer", max_tokens=limit))
    assert message["stop_reason"] == "max_tokens" and message["stop_sequence"] is None
    assert message["usage"]["output_tokens"] == limit
    assert message["content"][0]["text"] == full[: 4 * limit]


def test_max_tokens_inside_tool_json_leaves_the_block_open(sim: Simulator) -> None:
    whole = sim.create(ask("use get_weather", tools=[WEATHER]))
    preamble, call = whole["content"]
    preamble_tokens = math.ceil(len(preamble["text"]) / 4)
    request = ask("use get_weather", tools=[WEATHER], max_tokens=preamble_tokens + 5)
    events = sim.events(request)
    stops = [event["index"] for event in events if event["type"] == "content_block_stop"]
    assert stops == [0], "the cut tool block gets no content_block_stop"
    fragments = [
        e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta" and e["index"] == 1
    ]
    assert fragments[0] == "" and len("".join(fragments)) == 20
    message = sim.create(request)
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == preamble_tokens + 5
    assert message["content"][1]["id"] == call["id"]
    assert validate_anthropic_events(events) == message


def test_auto_calls_only_the_tools_the_user_names(sim: Simulator) -> None:
    assert sim.create(ask("what is the weather like", tools=[WEATHER]))["content"][0]["type"] == "text"
    message = sim.create(ask("please call GET_TIME then get_weather", tools=[WEATHER, CLOCK]))
    kinds = [block["type"] for block in message["content"]]
    assert kinds == ["text", "tool_use", "tool_use"]
    assert [block["name"] for block in message["content"][1:]] == ["get_time", "get_weather"]
    assert message["stop_reason"] == "tool_use"
    for block in message["content"][1:]:
        assert block["id"].startswith("toolu_01") and len(block["id"]) == 30
        schema = WEATHER if block["name"] == "get_weather" else CLOCK
        assert violations(block["input"], schema["input_schema"]) == []


def test_parallel_calls_can_be_disabled(sim: Simulator) -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    message = sim.create(ask("get_time and get_weather", tools=[WEATHER, CLOCK], tool_choice=choice))
    assert [block["type"] for block in message["content"]] == ["text", "tool_use"]


def test_forced_choices_call_a_tool_without_a_preamble(sim: Simulator) -> None:
    forced = sim.create(
        ask("hello", tools=[WEATHER, CLOCK], tool_choice={"type": "tool", "name": "get_time"})
    )
    assert [(b["type"], b.get("name")) for b in forced["content"]] == [("tool_use", "get_time")]
    anything = sim.create(ask("hello", tools=[WEATHER, CLOCK], tool_choice={"type": "any"}))
    assert [b["type"] for b in anything["content"]] == ["tool_use"]
    never = sim.create(ask("call get_weather", tools=[WEATHER], tool_choice={"type": "none"}))
    assert [b["type"] for b in never["content"]] == ["text"]


def test_tool_results_get_a_text_answer_quoting_them(sim: Simulator) -> None:
    first = sim.create(ask("use get_weather", tools=[WEATHER]))
    call = first["content"][1]
    follow_up = {
        "model": MODEL,
        "max_tokens": 512,
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "use get_weather"},
            {"role": "assistant", "content": first["content"]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": "Sunny, 24 degrees"}
                ],
            },
        ],
    }
    answer = sim.create(follow_up)
    assert [b["type"] for b in answer["content"]] == ["text"]
    assert 'The get_weather tool returned: "Sunny, 24 degrees".' in answer["content"][0]["text"]
    assert answer["stop_reason"] == "end_turn"


def test_thinking_comes_first_and_is_signed(sim: Simulator) -> None:
    request = ask("reason about this", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    message = sim.create(request)
    thinking, text = message["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    assert text["type"] == "text"
    events = sim.events(request)
    block_events = [e for e in events if e.get("index") == 0]
    assert block_events[-2]["delta"] == {"type": "signature_delta", "signature": thinking["signature"]}
    assert block_events[-1]["type"] == "content_block_stop"
    adaptive = sim.create(ask("reason about this", thinking={"type": "adaptive"}))
    assert adaptive["content"][0]["type"] == "thinking"


def test_thinking_sent_back_must_keep_its_signature(sim: Simulator) -> None:
    request = ask("reason", thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    first = sim.create(request)
    turns = [*request["messages"], {"role": "assistant", "content": first["content"]}]
    turns.append({"role": "user", "content": "and then?"})
    assert sim.create({**request, "messages": turns})["content"][1]["type"] == "text"
    forged = copy.deepcopy(turns)
    forged[1]["content"][0]["thinking"] += " (edited)"
    with pytest.raises(BadRequestError, match=r"messages\.1\.content\.0: Invalid `signature`"):
        sim.create({**request, "messages": forged})


def test_count_tokens_and_usage_use_one_counter(sim: Simulator) -> None:
    request = ask("x" * 400, tools=[WEATHER], system="Be brief.")
    assert sim.count_tokens(request) == sim.create(request)["usage"]["input_tokens"]
    assert sim.count_tokens(ask("x" * 400)) - sim.count_tokens(ask("x")) == 100 - 1


def _cached_request(suffix: str, ttl: str | None = None) -> dict[str, Any]:
    marker: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        marker["ttl"] = ttl
    system = [{"type": "text", "text": "policy " * 200, "cache_control": marker}]
    return ask(suffix, system=system)


def test_a_cached_prefix_is_written_once_then_read() -> None:
    sim = Simulator(SimulatorConfig(cache_min_tokens=100))
    first = sim.create(_cached_request("first question"))["usage"]
    total = sim.count_tokens(_cached_request("first question"))
    assert first["cache_read_input_tokens"] == 0
    assert first["cache_creation_input_tokens"] == first["cache_creation"]["ephemeral_5m_input_tokens"] > 300
    assert first["input_tokens"] + first["cache_creation_input_tokens"] == total
    second = sim.create(_cached_request("another question"))["usage"]
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    fresh = Simulator(SimulatorConfig(cache_min_tokens=100))
    long_lived = fresh.create(_cached_request("q", ttl="1h"))["usage"]
    written = long_lived["cache_creation_input_tokens"]
    assert long_lived["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": written,
    }
    assert written > 0


def test_short_prefixes_are_not_cached(sim: Simulator) -> None:
    usage = sim.create(_cached_request("question"))["usage"]
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


def _broken(change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    request = {**ask("hi"), **change}
    if drop is not None:
        del request[drop]
    return request


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (_broken({}, drop="model"), "model: Field required"),
        (_broken({}, drop="max_tokens"), "max_tokens: Field required"),
        (_broken({}, drop="messages"), "messages: Field required"),
        (_broken({"max_tokens": "ten"}), "max_tokens: Input should be a valid integer"),
        (_broken({"max_tokens": 0}), "max_tokens: Input should be greater than or equal to 1"),
        (_broken({"max_tokens": 10**6}), "max_tokens: 1000000 > 64000"),
        (_broken({"messages": []}), "messages: at least one message is required"),
        (_broken({"messages": [{"role": "robot", "content": "hi"}]}), "messages.0.role:"),
        (_broken({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}), "non-empty"),
        (
            _broken({"messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            "messages.0.content.0.text",
        ),
        (_broken({"temperature": 3}), "temperature:"),
        (_broken({"stop_sequences": "END"}), "stop_sequences: Input should be a valid list"),
        (_broken({"tools": [{"name": "bad name!", "input_schema": {}}]}), "tools.0.custom.name"),
        (_broken({"tool_choice": {"type": "tool", "name": "nope"}, "tools": [WEATHER]}), "tool_choice.name"),
        (_broken({"thinking": {"type": "enabled", "budget_tokens": 100}}), "budget_tokens"),
        (
            _broken(
                {
                    "messages": [
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}
                    ]
                }
            ),
            "unexpected `tool_use_id`",
        ),
    ],
)
def test_invalid_requests_get_the_api_error_naming_the_field(
    sim: Simulator, request_body: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        sim.create(request_body)
    assert message in caught.value.message
    assert caught.value.status_code == 400 and caught.value.type == "invalid_request_error"


def test_a_tool_call_without_its_result_is_rejected(sim: Simulator) -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    turns = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": "never mind"},
    ]
    with pytest.raises(
        BadRequestError, match=r"messages\.2: `tool_use` ids were found without `tool_result`"
    ):
        sim.create(ask("", messages=turns, tools=[WEATHER]))


def test_two_tool_calls_with_one_id_are_rejected(sim: Simulator) -> None:
    first = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
    turns = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [first]},
        {"role": "user", "content": [result]},
        {"role": "assistant", "content": [{"type": "text", "text": "Again."}, first]},
        {"role": "user", "content": [result]},
    ]
    with pytest.raises(BadRequestError) as caught:
        sim.create(ask("", messages=turns, tools=[WEATHER]))
    assert caught.value.message == "messages.3.content.1: `tool_use` ids must be unique"


def test_integers_wider_than_64_bits_are_hashed_and_counted(sim: Simulator) -> None:
    huge = 2**70
    tool = {
        "name": "pick",
        "input_schema": {"type": "object", "properties": {"n": {"const": huge}}, "required": ["n"]},
    }
    request = ask("pick one", metadata={"user_id": "u", "n": huge}, tools=[tool], tool_choice={"type": "any"})
    message = sim.create(request)
    assert message == sim.create(request)
    assert message["content"][0]["input"] == {"n": huge}
    assert sim.count_tokens(request) == message["usage"]["input_tokens"]


def test_unknown_models_are_not_found(sim: Simulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        sim.create(ask("hi", model="claude-nonexistent-1"))
    assert caught.value.type == "not_found_error" and caught.value.message == "model: claude-nonexistent-1"
    assert sim.create(ask("hi", model="claude-sonnet-4-5-20250929"))["model"] == "claude-sonnet-4-5-20250929"


WORDS = st.sampled_from(
    ["alpha", "get_weather", "get_time", "stop", "the", "Lisbon", "why?", "naïve", "数据"]
)
CHOICES = st.sampled_from(
    [None, {"type": "auto"}, {"type": "any"}, {"type": "none"}, {"type": "tool", "name": "get_time"}]
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    text = " ".join(draw(st.lists(WORDS, min_size=1, max_size=12)))
    request = ask(text, max_tokens=draw(st.integers(1, 400)))
    if draw(st.booleans()):
        request["tools"] = [WEATHER, CLOCK]
        choice = draw(CHOICES)
        if choice is not None:
            request["tool_choice"] = {**choice, "disable_parallel_tool_use": draw(st.booleans())}
    if draw(st.booleans()):
        request["stop_sequences"] = draw(st.lists(WORDS, max_size=2))
    if draw(st.booleans()):
        request["thinking"] = {"type": "adaptive"}
    if draw(st.booleans()):
        request["system"] = [
            {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}}
        ]
    return request


@settings(max_examples=150, deadline=None)
@given(request=requests())
def test_any_valid_request_streams_a_valid_stream_matching_its_message(request: dict[str, Any]) -> None:
    sim = Simulator()
    message = sim.create(request)
    events = sim.events(request)
    assert validate_anthropic_events(events) == message
    assert sim.plan(request).event_count() == len(events)
    assert message["usage"]["output_tokens"] <= request["max_tokens"]
    assert message["stop_reason"] in {"end_turn", "max_tokens", "stop_sequence", "tool_use"}
    if message["stop_reason"] == "max_tokens":
        assert message["usage"]["output_tokens"] == request["max_tokens"]
    if message["stop_reason"] == "stop_sequence":
        assert message["stop_sequence"] in request["stop_sequences"]
    for block in message["content"]:
        if block["type"] == "tool_use" and message["stop_reason"] == "tool_use":
            tool = WEATHER if block["name"] == "get_weather" else CLOCK
            assert violations(block["input"], tool["input_schema"]) == []

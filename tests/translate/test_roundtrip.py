"""Property tests: what maps between the dialects survives a round trip, in every direction."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from claudegate.translate import (
    ChatToMessagesStream,
    MessagesToChatStream,
    chat_completion_to_message,
    chat_request_to_messages,
    message_to_chat_completion,
    messages_request_to_chat,
    validate_chat_stream,
)
from tests.translate._wire import check_anthropic_stream

property_test = settings(max_examples=60, deadline=None)

texts = st.text(min_size=1, max_size=12)
names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
inputs = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
images = st.one_of(
    st.builds(
        lambda data: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        st.from_regex(r"[A-Za-z0-9+/]{4,16}", fullmatch=True),
    ),
    st.builds(
        lambda path: {"type": "image", "source": {"type": "url", "url": f"https://example.com/{path}.png"}},
        names,
    ),
)


# -- Anthropic request -> OpenAI request -> Anthropic request ---------------------------------------


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(0, 3))):
        user_blocks = [
            {"type": "tool_result", "tool_use_id": call_id, **draw(st.sampled_from(tool_result_contents()))}
            for call_id in pending
        ]
        user_blocks += draw(
            st.lists(st.one_of(st.builds(lambda t: {"type": "text", "text": t}, texts), images), max_size=3)
        )
        if not user_blocks:
            user_blocks = [{"type": "text", "text": "hello"}]
        messages.append({"role": "user", "content": user_blocks})
        assistant: list[dict[str, Any]] = []
        if draw(st.booleans()):
            assistant.append({"type": "text", "text": draw(texts)})
        count = draw(st.integers(0 if assistant else 1, 3))
        pending = [f"toolu_{turn}_{k}" for k in range(count)]
        for call_id in pending:
            assistant.append(
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": draw(st.sampled_from(tool_names)),
                    "input": draw(inputs),
                }
            )
        messages.append({"role": "assistant", "content": assistant})
    closing: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": call_id} for call_id in pending]
    messages.append({"role": "user", "content": [*closing, {"type": "text", "text": draw(texts)}]})
    body: dict[str, Any] = {
        "model": "claude-test",
        "max_tokens": draw(st.integers(1, 64000)),
        "messages": messages,
        "tools": [
            {"name": name, "description": draw(texts), "input_schema": {"type": "object", "properties": {}}}
            for name in tool_names
        ],
    }
    optional = {
        "system": draw(
            st.one_of(texts, st.lists(st.builds(lambda t: {"type": "text", "text": t}, texts), min_size=1))
        ),
        "stop_sequences": draw(st.lists(texts, min_size=1, max_size=3)),
        "temperature": draw(st.floats(0, 1)),
        "top_p": draw(st.floats(0, 1)),
        "stream": True,
        "metadata": {"user_id": draw(texts)},
        "tool_choice": draw(
            st.sampled_from(
                [
                    {"type": "auto"},
                    {"type": "any"},
                    {"type": "none"},
                    {"type": "tool", "name": tool_names[0]},
                    {"type": "any", "disable_parallel_tool_use": True},
                ]
            )
        ),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        body[key] = optional[key]
    return body


def tool_result_contents() -> list[dict[str, Any]]:
    return [
        {},
        {"content": "result text"},
        {"content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]},
    ]


def normalized_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    result = dict(body)
    system = result.pop("system", None)
    if isinstance(system, list):
        system = "\n".join(block["text"] for block in system)
    if system:
        result["system"] = system
    result["messages"] = [
        {
            "role": m["role"],
            "content": [{"type": "text", "text": m["content"]}]
            if isinstance(m["content"], str)
            else m["content"],
        }
        for m in result["messages"]
    ]
    return result


@property_test
@given(anthropic_requests())
def test_an_anthropic_request_survives_the_openai_round_trip(body: dict[str, Any]) -> None:
    back = chat_request_to_messages(messages_request_to_chat(body))
    assert normalized_anthropic(back) == normalized_anthropic(body)


# -- OpenAI request -> Anthropic request -> OpenAI request ------------------------------------------


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    messages: list[dict[str, Any]] = [{"role": "system", "content": draw(texts)}]
    for turn in range(draw(st.integers(0, 3))):
        messages.append({"role": "user", "content": draw(texts)})
        calls = [
            {
                "id": f"call_{turn}_{k}",
                "type": "function",
                "function": {
                    "name": draw(st.sampled_from(tool_names)),
                    "arguments": orjson.dumps(draw(inputs)).decode(),
                },
            }
            for k in range(draw(st.integers(0, 2)))
        ]
        if calls:
            messages.append({"role": "assistant", "content": draw(st.none() | texts), "tool_calls": calls})
            messages.extend({"role": "tool", "tool_call_id": c["id"], "content": draw(texts)} for c in calls)
        else:
            messages.append({"role": "assistant", "content": draw(texts)})
    parts = [
        {"type": "text", "text": draw(texts)},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    messages.append({"role": "user", "content": parts})
    body: dict[str, Any] = {
        "model": "gpt-test",
        "messages": messages,
        "max_completion_tokens": draw(st.integers(1, 4096)),
        "tools": [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
            for n in tool_names
        ],
    }
    optional = {
        "stop": draw(st.lists(texts, min_size=1, max_size=3)),
        "temperature": draw(st.floats(0, 1)),
        "top_p": draw(st.floats(0, 1)),
        "user": draw(texts),
        "stream": True,
        "tool_choice": draw(
            st.sampled_from(
                ["auto", "none", "required", {"type": "function", "function": {"name": tool_names[0]}}]
            )
        ),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        body[key] = optional[key]
    if body.get("tool_choice") != "none" and draw(st.booleans()):
        body["parallel_tool_calls"] = False
    return body


@property_test
@given(openai_requests())
def test_an_openai_request_survives_the_anthropic_round_trip(body: dict[str, Any]) -> None:
    back = messages_request_to_chat(chat_request_to_messages(body))
    assert back.pop("stream_options", None) == ({"include_usage": True} if body.get("stream") else None)
    if "tool_choice" not in body:
        # parallel_tool_calls=false alone needs an explicit "auto" choice on the Anthropic side.
        assert back.pop("tool_choice", "auto") == "auto"
    assert back == body


# -- responses ----------------------------------------------------------------------------------------


@st.composite
def claude_messages(draw: st.DrawFn) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if draw(st.booleans()):
        content.append({"type": "text", "text": draw(texts)})
    for k in range(draw(st.integers(0, 3))):
        content.append({"type": "tool_use", "id": f"toolu_{k}", "name": draw(names), "input": draw(inputs)})
    calls = any(block["type"] == "tool_use" for block in content)
    reasons = ["tool_use", "max_tokens"] if calls else ["end_turn", "max_tokens", "refusal"]
    counts = st.integers(0, 10**6)
    return {
        "id": "msg_" + draw(st.from_regex(r"[A-Za-z0-9]{1,24}", fullmatch=True)),
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": draw(st.sampled_from(reasons)),
        "stop_sequence": None,
        "usage": {
            "input_tokens": draw(counts),
            "output_tokens": draw(counts),
            "cache_creation_input_tokens": draw(counts),
            "cache_read_input_tokens": draw(counts),
        },
    }


@property_test
@given(claude_messages())
def test_a_message_survives_the_chat_completion_round_trip(message: dict[str, Any]) -> None:
    back = chat_completion_to_message(message_to_chat_completion(message))
    usage = message["usage"]
    expected_usage = {
        "input_tokens": usage["input_tokens"] + usage["cache_creation_input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
    }
    assert back == {**message, "usage": expected_usage}


@property_test
@given(claude_messages())
def test_a_chat_completion_survives_the_message_round_trip(message: dict[str, Any]) -> None:
    completion = message_to_chat_completion(message, created=5)
    assert message_to_chat_completion(chat_completion_to_message(completion), created=5) == completion


# -- streams ------------------------------------------------------------------------------------------


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def message_events(message: dict[str, Any], cuts: list[int]) -> list[dict[str, Any]]:
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": message["usage"]["input_tokens"]},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in split(block["text"], cuts)]
        else:
            opening = {**block, "input": {}}
            text = orjson.dumps(block["input"]).decode()
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": part} for part in split(text, cuts)]
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]}, "usage": message["usage"]}
    )
    events.append({"type": "message_stop"})
    return events


@property_test
@given(claude_messages(), st.lists(st.integers(0, 200), max_size=6))
def test_a_stream_survives_the_chunk_round_trip(message: dict[str, Any], cuts: list[int]) -> None:
    to_chat = MessagesToChatStream(include_usage=True)
    chunks = [c for e in message_events(message, cuts) for c in to_chat.feed(e)] + to_chat.finish()
    validate_chat_stream(chunks, include_usage=True)
    to_messages = ChatToMessagesStream()
    back = check_anthropic_stream([e for c in chunks for e in to_messages.feed(c)] + to_messages.finish())

    def summary(content: list[dict[str, Any]]) -> list[Any]:
        return [b.get("text") or (b["id"], b["name"], b["input"]) for b in content]

    assert summary(back["content"]) == summary(message["content"])
    assert back["stop_reason"] == message["stop_reason"]
    assert back["usage"]["output_tokens"] == message["usage"]["output_tokens"]


@property_test
@given(st.data())
def test_interleaved_parallel_calls_always_give_valid_blocks(data: st.DataObject) -> None:
    calls = data.draw(st.lists(inputs, min_size=1, max_size=4))
    queues = []
    for index, arguments in enumerate(calls):
        text = orjson.dumps(arguments, option=orjson.OPT_INDENT_2).decode()
        parts = split(text, data.draw(st.lists(st.integers(0, 100), max_size=5)))
        first = {
            "index": index,
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": f"f{index}", "arguments": ""},
        }
        queues.append([first] + [{"index": index, "function": {"arguments": p}} for p in parts])
    chunks: list[dict[str, Any]] = [
        {"id": "chatcmpl-x", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    ]
    started = 0
    while any(queues):
        # A call may only start after the calls with lower indices, as OpenAI numbers them.
        ready = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        pick = data.draw(st.sampled_from(ready))
        started = max(started, pick + 1)
        chunks.append(
            {
                "id": "chatcmpl-x",
                "model": "m",
                "choices": [{"index": 0, "delta": {"tool_calls": [queues[pick].pop(0)]}}],
            }
        )
    chunks.append(
        {
            "id": "chatcmpl-x",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        }
    )
    stream = ChatToMessagesStream()
    message = check_anthropic_stream([e for c in chunks for e in stream.feed(c)] + stream.finish())
    assert [(b["id"], b["input"]) for b in message["content"]] == [
        (f"call_{i}", a) for i, a in enumerate(calls)
    ]

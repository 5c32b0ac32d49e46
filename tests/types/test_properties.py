"""Property tests: any JSON-ish payload, with unknown types and fields anywhere, round-trips unchanged."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from claudegate.types import (
    ContentBlockStartEvent,
    MessageCreateParams,
    RedactedThinkingBlock,
    ServerToolResultBlock,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    UnknownContentBlock,
    UnknownDelta,
    UnknownStreamEvent,
    WireModel,
    parse_content_block,
    parse_message,
    parse_stream_event,
)

KNOWN_BLOCK_TYPES = {
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
}
KNOWN_EVENT_TYPES = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
}
KNOWN_DELTA_TYPES = {"text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


def extra_fields(model: type[WireModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Fields the model does not declare, with arbitrary names and JSON values."""
    declared = set(model.model_fields)
    return st.dictionaries(
        st.text(max_size=12).filter(lambda key: key not in declared), json_values, max_size=3
    )


def with_extras(
    model: type[WireModel], base: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(base, extra_fields(model)).map(lambda pair: {**pair[1], **pair[0]})


def unknown_tag(known: set[str]) -> st.SearchStrategy[str]:
    return st.text(max_size=24).filter(lambda tag: tag not in known and not tag.endswith("_tool_result"))


ids = st.text(min_size=1, max_size=12)
text = st.text(max_size=40)

known_blocks: st.SearchStrategy[tuple[type[WireModel], dict[str, Any]]] = st.one_of(
    with_extras(TextBlock, st.fixed_dictionaries({"type": st.just("text"), "text": text})).map(
        lambda d: (TextBlock, d)
    ),
    with_extras(
        ThinkingBlock,
        st.fixed_dictionaries({"type": st.just("thinking"), "thinking": text, "signature": text}),
    ).map(lambda d: (ThinkingBlock, d)),
    with_extras(
        RedactedThinkingBlock, st.fixed_dictionaries({"type": st.just("redacted_thinking"), "data": text})
    ).map(lambda d: (RedactedThinkingBlock, d)),
    with_extras(
        ToolUseBlock,
        st.fixed_dictionaries({"type": st.just("tool_use"), "id": ids, "name": ids, "input": json_objects}),
    ).map(lambda d: (ToolUseBlock, d)),
    with_extras(
        ServerToolUseBlock,
        st.fixed_dictionaries(
            {"type": st.just("server_tool_use"), "id": ids, "name": ids, "input": json_objects}
        ),
    ).map(lambda d: (ServerToolUseBlock, d)),
)
unknown_blocks = st.tuples(unknown_tag(KNOWN_BLOCK_TYPES), extra_fields(UnknownContentBlock)).map(
    lambda pair: {"type": pair[0], **pair[1]}
)
server_tool_results = st.tuples(
    st.text(max_size=12)
    .map(lambda name: f"{name}_tool_result")
    .filter(lambda tag: tag not in KNOWN_BLOCK_TYPES),
    ids,
    json_values,
    extra_fields(ServerToolResultBlock),
).map(lambda parts: {**parts[3], "type": parts[0], "tool_use_id": parts[1], "content": parts[2]})
any_block = st.one_of(known_blocks.map(lambda pair: pair[1]), unknown_blocks, server_tool_results)


def assert_round_trip(model: WireModel, payload: dict[str, Any]) -> None:
    assert model.to_dict() == payload
    assert orjson.loads(model.to_json()) == payload


@given(known_blocks)
def test_known_blocks_with_unknown_fields_round_trip(case: tuple[type[WireModel], dict[str, Any]]) -> None:
    block_class, payload = case
    block = parse_content_block(payload)
    assert type(block) is block_class
    assert_round_trip(block, payload)


@given(unknown_blocks)
def test_unknown_blocks_round_trip(payload: dict[str, Any]) -> None:
    block = parse_content_block(payload)
    assert type(block) is UnknownContentBlock
    assert_round_trip(block, payload)


@given(server_tool_results)
def test_any_server_tool_result_round_trips(payload: dict[str, Any]) -> None:
    block = parse_content_block(payload)
    assert type(block) is ServerToolResultBlock
    assert_round_trip(block, payload)


@given(unknown_tag(KNOWN_EVENT_TYPES), extra_fields(UnknownStreamEvent))
def test_unknown_events_round_trip(tag: str, fields: dict[str, Any]) -> None:
    payload = {"type": tag, **fields}
    event = parse_stream_event(payload)
    assert type(event) is UnknownStreamEvent
    assert_round_trip(event, payload)


@given(st.integers(min_value=0, max_value=1000), any_block, extra_fields(ContentBlockStartEvent))
def test_block_starts_round_trip(index: int, block: dict[str, Any], fields: dict[str, Any]) -> None:
    payload = {**fields, "type": "content_block_start", "index": index, "content_block": block}
    assert_round_trip(parse_stream_event(payload), payload)


@given(unknown_tag(KNOWN_DELTA_TYPES), extra_fields(UnknownDelta))
def test_unknown_deltas_round_trip(tag: str, fields: dict[str, Any]) -> None:
    payload = {"type": "content_block_delta", "index": 0, "delta": {"type": tag, **fields}}
    assert_round_trip(parse_stream_event(payload), payload)


@given(
    st.sampled_from(["end_turn", "tool_use", "refusal"]) | st.text(max_size=20) | st.none(),
    json_objects,
    json_objects,
)
def test_message_deltas_keep_newer_fields(
    stop_reason: str | None, delta_extra: Any, usage_extra: Any
) -> None:
    delta = {key: value for key, value in delta_extra.items() if key not in {"stop_reason", "stop_sequence"}}
    usage = {
        key: value
        for key, value in usage_extra.items()
        if not key.endswith("tokens") and key != "server_tool_use"
    }
    payload = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, **delta},
        "usage": {"output_tokens": 7, **usage},
    }
    assert_round_trip(parse_stream_event(payload), payload)


@given(st.lists(any_block, max_size=4), json_objects)
def test_messages_with_any_blocks_round_trip(blocks: list[dict[str, Any]], extras: dict[str, Any]) -> None:
    fields = {
        key: value for key, value in extras.items() if key not in {"id", "type", "role", "model", "content"}
    }
    fields.pop("stop_reason", None)
    fields.pop("stop_sequence", None)
    fields.pop("usage", None)
    payload = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": blocks,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 2},
        **fields,
    }
    assert_round_trip(parse_message(payload), payload)


turns = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system"]),
        "content": st.one_of(text, st.lists(any_block, max_size=3)),
    }
)


@given(st.lists(turns, max_size=3), extra_fields(MessageCreateParams))
def test_requests_keep_unknown_fields_and_blocks(
    messages: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    payload = {"model": "claude-x", "max_tokens": 16, "messages": messages, **fields}
    assert_round_trip(MessageCreateParams.model_validate(payload), payload)

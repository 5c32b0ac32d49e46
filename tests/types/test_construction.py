"""Models built by hand serialise to exactly the JSON the API expects, and nothing more."""

from __future__ import annotations

import orjson

from claudegate.types import (
    Base64ImageSource,
    BatchRequestCounts,
    CacheControl,
    CitationsConfig,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    DocumentBlock,
    ErrorDetail,
    ErrorResponse,
    ImageBlock,
    Message,
    MessageBatch,
    MessageCreateParams,
    MessageDeltaBody,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageParam,
    MessageStartEvent,
    MessageStopEvent,
    Metadata,
    PlainTextSource,
    ServerTool,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingConfigAdaptive,
    ThinkingConfigEnabled,
    Tool,
    ToolChoiceAny,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
    URLImageSource,
    Usage,
    parse_message,
    parse_stream_event,
)


def test_text_block_fills_its_type() -> None:
    assert TextBlock(text="hi").to_json() == b'{"type":"text","text":"hi"}'


def test_cache_control_is_ephemeral_unless_told() -> None:
    block = TextBlock(text="hi", cache_control=CacheControl(ttl="1h"))
    assert block.to_json() == b'{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}'
    assert CacheControl().to_dict() == {"type": "ephemeral"}


def test_message_param_with_plain_text() -> None:
    assert MessageParam(role="user", content="hi").to_json() == b'{"role":"user","content":"hi"}'


def test_custom_tool_has_no_type_unless_given() -> None:
    tool = Tool(
        name="get_weather", input_schema={"type": "object", "properties": {"city": {"type": "string"}}}
    )
    assert tool.to_json() == (
        b'{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}'
    )
    assert Tool(type="custom", name="t", description="d", input_schema={}).to_dict() == {
        "type": "custom",
        "name": "t",
        "description": "d",
        "input_schema": {},
    }


def test_server_tool_keeps_its_own_settings() -> None:
    tool = ServerTool(type="web_search_20250305", name="web_search", max_uses=5)
    assert tool.to_dict() == {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


def test_a_full_request_body() -> None:
    params = MessageCreateParams(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        system=[TextBlock(text="Be brief.", cache_control=CacheControl())],
        messages=[
            MessageParam(
                role="user",
                content=[
                    ImageBlock(source=Base64ImageSource(media_type="image/png", data="iVBORw0KGgo=")),
                    TextBlock(text="What is this?"),
                ],
            ),
            MessageParam(
                role="assistant",
                content=[
                    ThinkingBlock(thinking="Looks like a logo.", signature="sig"),
                    ToolUseBlock(id="toolu_1", name="lookup", input={"q": "logo"}),
                ],
            ),
            MessageParam(
                role="user",
                content=[
                    ToolResultBlock(tool_use_id="toolu_1", content=[TextBlock(text="none")], is_error=True)
                ],
            ),
        ],
        metadata=Metadata(user_id="u-1"),
        temperature=1,
        tools=[Tool(name="lookup", input_schema={"type": "object"})],
        tool_choice=ToolChoiceTool(name="lookup", disable_parallel_tool_use=True),
        thinking=ThinkingConfigEnabled(budget_tokens=2048),
        output_config={"effort": "high"},
    )
    assert orjson.loads(params.to_json()) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Looks like a logo.", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "logo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "none"}],
                        "is_error": True,
                    }
                ],
            },
        ],
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u-1"},
        "temperature": 1,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "output_config": {"effort": "high"},
    }
    # An int temperature stays an int on the wire: the bytes are the caller's, not a coerced 1.0.
    assert b'"temperature":1,' in params.to_json()
    assert MessageCreateParams.model_validate(params.to_dict()) == params


def test_small_configs_fill_their_type() -> None:
    assert ThinkingConfigAdaptive().to_dict() == {"type": "adaptive"}
    assert ToolChoiceAny().to_dict() == {"type": "any"}
    document = DocumentBlock(
        source=PlainTextSource(data="The grass is green."), citations=CitationsConfig(enabled=True)
    )
    assert document.to_dict() == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "The grass is green."},
        "citations": {"enabled": True},
    }
    assert ImageBlock(source=URLImageSource(url="https://example.com/a.png")).to_dict() == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.png"},
    }


def test_a_response_message_always_carries_its_stop_fields() -> None:
    message = Message(
        id="msg_1",
        model="claude-sonnet-4-5",
        content=[TextBlock(text="Hello")],
        stop_reason="end_turn",
        usage=Usage(input_tokens=10, output_tokens=2),
    )
    assert message.to_json() == (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",'
        b'"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,'
        b'"usage":{"input_tokens":10,"output_tokens":2}}'
    )
    assert parse_message(message.to_dict()) == message


def test_a_stream_built_by_hand_is_wire_exact() -> None:
    started = Message(id="msg_1", model="m", content=[], usage=Usage(input_tokens=5, output_tokens=1))
    frames = [
        MessageStartEvent(message=started),
        ContentBlockStartEvent(index=0, content_block=TextBlock(text="")),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="Hi")),
        MessageDeltaEvent(
            delta=MessageDeltaBody(stop_reason="end_turn"), usage=MessageDeltaUsage(output_tokens=2)
        ),
        MessageStopEvent(),
    ]
    assert [frame.to_json() for frame in frames] == [
        b'{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m",'
        b'"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}',
        b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
        b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        b'"usage":{"output_tokens":2}}',
        b'{"type":"message_stop"}',
    ]
    assert [parse_stream_event(orjson.loads(frame.to_json())) for frame in frames] == frames


def test_error_envelope_by_hand() -> None:
    error = ErrorResponse(
        error=ErrorDetail(type="overloaded_error", message="Overloaded"), request_id="req_1"
    )
    assert error.to_json() == (
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}'
    )


def test_a_batch_by_hand_has_every_field_the_api_sends() -> None:
    batch = MessageBatch(
        id="msgbatch_1",
        processing_status="in_progress",
        request_counts=BatchRequestCounts(processing=2),
        created_at="2025-01-01T00:00:00Z",
        expires_at="2025-01-02T00:00:00Z",
    )
    assert batch.to_dict() == {
        "id": "msgbatch_1",
        "type": "message_batch",
        "archived_at": None,
        "cancel_initiated_at": None,
        "created_at": "2025-01-01T00:00:00Z",
        "ended_at": None,
        "expires_at": "2025-01-02T00:00:00Z",
        "processing_status": "in_progress",
        "request_counts": {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "results_url": None,
    }


def test_mutating_a_field_is_serialised() -> None:
    block = TextBlock.model_validate({"type": "text", "text": "a"})
    block.text = "b"
    block.citations = []
    assert block.to_dict() == {"type": "text", "text": "b", "citations": []}

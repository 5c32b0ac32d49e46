"""OpenAI chat request -> Anthropic request (``chat_request_to_messages``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from claudegate.errors import UserError
from claudegate.translate import TranslationError, chat_request_to_messages, response_format_tool_name

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant_calls(*calls: tuple[str, str, str], content: Any = None) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in calls
        ],
    }


def tool_result(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def translate(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return chat_request_to_messages({"model": "m", "messages": list(messages), **fields})


def test_system_and_developer_messages_are_hoisted_and_joined() -> None:
    result = translate(
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
    )
    assert result["system"] == "Be brief.\nUse French."
    assert result["messages"] == [{"role": "user", "content": "Hi"}]


def test_user_parts_images_and_files_become_blocks() -> None:
    parts = [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "text", "text": ""},
    ]
    (message,) = translate(user(parts))["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        },
    ]


@pytest.mark.parametrize(
    ("part", "field"),
    [
        (
            {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,abc"}},
            "messages[0].content[0].image_url.url",
        ),
        ({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}, "messages[0].content[0]"),
        ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[0].file.file_id"),
        ({"type": "video", "video": {}}, "messages[0].content[0].type"),
    ],
)
def test_parts_that_cannot_be_sent_are_named(part: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        translate(user([part]))
    assert caught.value.field == field
    assert caught.value.message.startswith(field)


def test_a_tool_round_becomes_tool_use_then_one_user_message_of_results() -> None:
    result = translate(
        user("Weather in Paris and Rome?"),
        assistant_calls(("call_1", "weather", '{"city": "Paris"}'), ("call_2", "weather", '{"city":"Rome"}')),
        tool_result("call_1", "21C"),
        tool_result("call_2", [{"type": "text", "text": "25C"}]),
        user("Thanks"),
    )
    assert result["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "21C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "25C"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]


def test_assistant_text_stays_next_to_its_tool_calls() -> None:
    result = translate(
        user("Hi"), assistant_calls(("c1", "weather", "{}"), content="Let me check."), tool_result("c1", "")
    )
    assert result["messages"][1]["content"][0] == {"type": "text", "text": "Let me check."}
    assert result["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"}]


def test_tool_ids_are_made_valid_for_anthropic_consistently() -> None:
    result = translate(
        user("Hi"), assistant_calls(("call:1.a", "weather", "{}")), tool_result("call:1.a", "ok")
    )
    made = result["messages"][1]["content"][0]["id"]
    assert re.fullmatch(r"call_1_a_[0-9a-f]{8}", made)
    assert result["messages"][2]["content"][0]["tool_use_id"] == made
    again = translate(user("Hi"), assistant_calls(("call:1.a", "weather", "{}")), tool_result("call:1.a", ""))
    assert again["messages"][1]["content"][0]["id"] == made


def test_ids_that_clean_up_alike_stay_apart_and_keep_their_results() -> None:
    result = translate(
        user("Hi"),
        assistant_calls(("a.b", "weather", "{}"), ("a:b", "weather", "{}")),
        tool_result("a:b", "second"),
        tool_result("a.b", "first"),
    )
    calls = result["messages"][1]["content"]
    results = result["messages"][2]["content"]
    assert calls[0]["id"] != calls[1]["id"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", call["id"]) for call in calls)
    by_id = {block["tool_use_id"]: block["content"] for block in results}
    assert by_id == {calls[0]["id"]: "first", calls[1]["id"]: "second"}


def test_an_id_that_equals_another_once_made_valid_is_refused() -> None:
    made = translate(user("Hi"), assistant_calls(("a.b", "f", "{}")), tool_result("a.b", ""))
    rewritten = made["messages"][1]["content"][0]["id"]
    with pytest.raises(TranslationError, match="becomes") as caught:
        translate(
            user("Hi"),
            assistant_calls(("a.b", "f", "{}"), (rewritten, "f", "{}")),
            tool_result("a.b", ""),
            tool_result(rewritten, ""),
        )
    assert caught.value.field == "messages[1].tool_calls[1].id"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ("", "must be a JSON object"),
        ("   ", "must be a JSON object"),
        ('{"city": ', "not valid JSON"),
        ("[1]", "object"),
    ],
)
def test_unusable_arguments_are_rejected_with_their_path(arguments: str, problem: str) -> None:
    with pytest.raises(TranslationError, match=problem) as caught:
        translate(
            user("Hi"),
            assistant_calls(("c1", "weather", "{}"), ("c2", "weather", arguments)),
            tool_result("c1", "a"),
            tool_result("c2", "b"),
        )
    assert caught.value.field == "messages[1].tool_calls[1].function.arguments"
    assert caught.value.param == caught.value.field
    assert isinstance(caught.value, UserError)


def test_consecutive_messages_of_one_role_are_merged() -> None:
    result = translate(
        user("one"), user([{"type": "text", "text": "two"}]), {"role": "assistant", "content": "three"}
    )
    assert result["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
    ]


def test_tools_and_every_tool_choice_map() -> None:
    choices = {
        "none": {"type": "none"},
        "auto": {"type": "auto"},
        "required": {"type": "any"},
        "function": {"type": "tool", "name": "weather"},
    }
    for given, expected in choices.items():
        choice: Any = {"type": "function", "function": {"name": "weather"}} if given == "function" else given
        result = translate(user("Hi"), tools=[WEATHER_TOOL], tool_choice=choice)
        assert result["tool_choice"] == expected
        assert result["tools"] == [
            {"name": "weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
        ]


def test_parallel_tool_calls_false_disables_parallel_use() -> None:
    result = translate(user("Hi"), tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert result["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    result = translate(user("Hi"), tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)
    assert result["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "tool_choice" not in translate(user("Hi"), parallel_tool_calls=False)


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    result = translate(user("Hi"), tools=[{"type": "function", "function": {"name": "now"}}])
    assert result["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]


def test_forcing_a_tool_without_tools_is_an_error() -> None:
    with pytest.raises(TranslationError) as caught:
        translate(user("Hi"), tool_choice="required")
    assert caught.value.field == "tool_choice"


def test_sampling_limits_and_user_map() -> None:
    result = translate(
        user("Hi"),
        max_completion_tokens=50,
        max_tokens=10,
        stop="END",
        temperature=1.7,
        top_p=0.9,
        stream=True,
        user="u-1",
    )
    assert result["max_tokens"] == 50
    assert result["stop_sequences"] == ["END"]
    assert result["temperature"] == 1
    assert result["top_p"] == 0.9
    assert result["stream"] is True
    assert result["metadata"] == {"user_id": "u-1"}
    assert translate(user("Hi"), max_tokens=10, stop=["a", "", "b"])["stop_sequences"] == ["a", "b"]
    assert chat_request_to_messages({"messages": [user("Hi")]}, default_max_tokens=77)["max_tokens"] == 77


def test_fields_without_an_anthropic_meaning_are_dropped() -> None:
    dropped = {
        "logprobs": True,
        "top_logprobs": 2,
        "seed": 1,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "audio": {"voice": "alloy"},
        "store": True,
        "metadata": {"a": "b"},
        "stream_options": {"include_usage": True},
        "n": 1,
    }
    result = translate(user("Hi"), **dropped)
    assert set(result) == {"model", "max_tokens", "messages"}


def test_response_format_json_schema_becomes_output_config_with_the_schema_kept() -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "report", "schema": WEATHER_SCHEMA, "strict": True},
    }
    body = {"model": "m", "messages": [user("Weather?")], "response_format": response_format}
    result = chat_request_to_messages(body)
    assert result["output_config"] == {"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}}
    assert "tools" not in result and "tool_choice" not in result
    assert response_format_tool_name(body) is None


def test_response_format_with_client_tools_leaves_the_tool_choice_alone() -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "report", "schema": WEATHER_SCHEMA}}
    result = translate(user("Hi"), tools=[WEATHER_TOOL], response_format=response_format)
    assert [t["name"] for t in result["tools"]] == ["weather"] and "tool_choice" not in result
    assert result["output_config"]["format"]["schema"] == WEATHER_SCHEMA


def test_a_json_schema_without_schema_is_a_forced_tool_that_must_not_clash() -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "report", "description": "A report"}}
    body = {"messages": [user("Hi")], "response_format": response_format}
    result = chat_request_to_messages(body)
    assert response_format_tool_name(body) == "report" and "output_config" not in result
    assert result["tool_choice"] == {"type": "tool", "name": "report"}
    assert result["tools"] == [
        {"name": "report", "description": "A report", "input_schema": {"type": "object"}}
    ]
    with pytest.raises(TranslationError, match="clashes"):
        translate(
            user("Hi"),
            tools=[WEATHER_TOOL],
            response_format={"type": "json_schema", "json_schema": {"name": "weather"}},
        )


def test_json_object_and_text_response_formats() -> None:
    body = {"messages": [user("Hi")], "response_format": {"type": "json_object"}}
    assert chat_request_to_messages(body)["tool_choice"] == {
        "type": "tool",
        "name": response_format_tool_name(body),
    }
    plain = {"messages": [user("Hi")], "response_format": {"type": "text"}}
    assert "tools" not in chat_request_to_messages(plain)
    assert response_format_tool_name(plain) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [user("Hi")], "n": 2}, "n"),
        ({"messages": [user("Hi")], "functions": [{"name": "f"}]}, "functions"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages[0].role"),
        ({"messages": [user("Hi")], "max_tokens": 0}, "max_tokens"),
        ({"messages": [user("Hi")], "tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {"messages": [user("Hi")], "response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
        ),
        (
            {
                "messages": [user("Hi")],
                "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": "x"}},
            },
            "response_format.json_schema.schema",
        ),
        ({"messages": [user("Hi")], "response_format": {"type": "yaml"}}, "response_format.type"),
        ({"messages": [user("Hi")], "reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"messages": [user("Hi")], "reasoning": {"effort": 3}}, "reasoning.effort"),
        ({"messages": [user("Hi")], "reasoning": {"max_tokens": 10}}, "reasoning.max_tokens"),
        ({"messages": [user("Hi")], "thinking": {"type": "on"}}, "thinking"),
        ({"messages": [user("Hi")], "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}]},
            "messages[0].content[0].cache_control",
        ),
        (
            {
                "messages": [
                    {"role": "system", "content": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}
                ]
            },
            "messages[0].cache_control.ttl",
        ),
        (
            {"messages": [user("Hi")], "tools": [{**WEATHER_TOOL, "cache_control": "yes"}]},
            "tools[0].cache_control",
        ),
        (
            {"messages": [user("Hi"), {"role": "assistant", "content": "x", "reasoning_signature": 5}]},
            "messages[1].reasoning_signature",
        ),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        chat_request_to_messages(body)
    assert caught.value.field == field

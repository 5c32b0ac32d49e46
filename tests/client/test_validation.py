from __future__ import annotations

import base64
from typing import Any

import pytest

from claudegate.client import AsyncClient, MockResponse, MockTransport, Request
from claudegate.client import validate_message_request as validate
from claudegate.errors import UserError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def base(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    body.update(overrides)
    return body


def tool(name: str) -> dict[str, Any]:
    return {"name": name, "input_schema": {"type": "object", "properties": {}}}


def image(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode()},
    }


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing model", base(model=""), "model"),
    ("zero max_tokens", base(max_tokens=0), "max_tokens"),
    ("no messages", base(messages=[]), "messages"),
    ("bad tool name", base(tools=[tool("get weather")]), "tools[0].name"),
    ("long tool name", base(tools=[tool("x" * 65)]), "tools[0].name"),
    ("duplicate tool", base(tools=[tool("a"), tool("b"), tool("a")]), "tools[2].name"),
    (
        "choice names missing tool",
        base(tools=[tool("a")], tool_choice={"type": "tool", "name": "b"}),
        "tool_choice.name",
    ),
    ("choice any without tools", base(tool_choice={"type": "any"}), "tool_choice"),
    (
        "empty text block",
        base(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        "messages[0].content[0].text",
    ),
    (
        "blank text block",
        base(messages=[{"role": "user", "content": [{"type": "text", "text": "  \n"}]}]),
        "messages[0].content[0].text",
    ),
    ("empty string content", base(messages=[{"role": "user", "content": ""}]), "messages[0].content"),
    (
        "bmp image",
        base(messages=[{"role": "user", "content": [image("image/bmp", PNG)]}]),
        "messages[0].content[0].source.media_type",
    ),
    (
        "mislabelled image",
        base(messages=[{"role": "user", "content": [image("image/jpeg", PNG)]}]),
        "messages[0].content[0].source.media_type",
    ),
    (
        "huge image",
        base(messages=[{"role": "user", "content": [image("image/png", PNG + b"\x00" * (5 * 1024 * 1024))]}]),
        "messages[0].content[0].source.data",
    ),
    ("blank stop sequence", base(stop_sequences=["ok", " "]), "stop_sequences[1]"),
    ("temperature out of range", base(temperature=1.5), "temperature"),
    ("bad role", base(messages=[{"role": "robot", "content": "hi"}]), "messages[0].role"),
    (
        "orphan tool_result",
        base(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}],
                }
            ]
        ),
        "messages[0].content[0].tool_use_id",
    ),
    (
        "tool_use without result",
        base(
            messages=[
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}],
                },
                {"role": "user", "content": "what now"},
            ]
        ),
        "messages[2].content",
    ),
]


@pytest.mark.parametrize(("name", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_invalid_requests_name_the_field(name: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(UserError) as info:
        validate(body)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_valid_requests_pass() -> None:
    validate(base())
    validate(
        base(
            tools=[tool("get_weather"), tool("a-b_9")],
            tool_choice={"type": "tool", "name": "get_weather"},
            system=[{"type": "text", "text": "Be brief."}],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "hi"}, image("image/jpeg", JPEG)]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
                },
                {"role": "assistant", "content": ""},
            ],
        )
    )


async def test_invalid_request_never_reaches_the_network() -> None:
    sent: list[Request] = []

    def handler(request: Request) -> MockResponse:
        sent.append(request)
        return MockResponse.json({})

    client = AsyncClient(
        api_key="sk-test-00000000", base_url="http://127.0.0.1:9", transport=MockTransport(handler)
    )
    for _, body, field in CASES:
        with pytest.raises(UserError) as info:
            await client.messages.create(**body)
        assert info.value.field == field
        with pytest.raises(UserError):
            client.messages.stream(**body)
    assert sent == []

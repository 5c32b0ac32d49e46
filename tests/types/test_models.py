"""The model catalogue and token counts parse and round-trip."""

from __future__ import annotations

from claudegate.types import CountTokensParams, MessageTokensCount, ModelInfo, ModelPage, TextBlock


def test_model_page_round_trips() -> None:
    page = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            },
            {
                "type": "model",
                "id": "claude-opus-4-1",
                "display_name": "Claude Opus 4.1",
                "created_at": "2025-08-05T00:00:00Z",
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-opus-4-1",
    }
    parsed = ModelPage.model_validate(page)
    assert [model.id for model in parsed.data] == ["claude-sonnet-4-5-20250929", "claude-opus-4-1"]
    assert parsed.to_dict() == page


def test_model_info_by_hand() -> None:
    info = ModelInfo(id="sim-1", display_name="Simulator", created_at="2025-01-01T00:00:00Z")
    assert info.to_json() == (
        b'{"type":"model","id":"sim-1","display_name":"Simulator","created_at":"2025-01-01T00:00:00Z"}'
    )


def test_count_tokens_request_and_answer() -> None:
    params = CountTokensParams(
        model="m", system=[TextBlock(text="S")], messages=[{"role": "user", "content": "Hi"}]
    )
    assert params.to_dict() == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "system": [{"type": "text", "text": "S"}],
    }
    assert MessageTokensCount.model_validate({"input_tokens": 14}).input_tokens == 14
    assert MessageTokensCount(input_tokens=3).to_json() == b'{"input_tokens":3}'

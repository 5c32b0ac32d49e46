from __future__ import annotations

from pathlib import Path

import pytest

from claudegate.client import (
    CacheUsage,
    Request,
    TextWindowObserver,
    cache_last_message,
    cache_system,
    cache_tools,
    image_block_from_bytes,
    image_block_from_file,
    image_block_from_url,
    redact_headers,
    to_curl,
)
from claudegate.client._observers import CallbackObserver, notify
from claudegate.errors import UserError

KEY = "sk-ant-api03-do-not-leak-000000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


def test_curl_redacts_keys_and_stays_runnable() -> None:
    request = Request(
        "POST",
        "https://api.example.test/v1/messages",
        {"x-api-key": KEY, "authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"},
        b'{"model":"m","note":"it\'s"}',
    )
    command = to_curl(request)
    assert KEY not in command
    assert '"x-api-key: $ANTHROPIC_API_KEY"' in command
    assert "'anthropic-version: 2023-06-01'" in command
    assert "--data-binary" in command and "it'\"'\"'s" in command
    assert redact_headers({"X-Api-Key": KEY, "a": "b"}) == {"X-Api-Key": "<redacted>", "a": "b"}


def test_cache_helpers_mark_the_last_block() -> None:
    system = cache_system("long prompt", ttl="1h")
    assert system == [
        {"type": "text", "text": "long prompt", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    tools = cache_tools([{"name": "a"}, {"name": "b"}])
    assert "cache_control" not in tools[0] and tools[1]["cache_control"] == {"type": "ephemeral"}
    original = [{"role": "user", "content": "hi"}]
    messages = cache_last_message(original)
    assert messages[0]["content"] == [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    assert original == [{"role": "user", "content": "hi"}]
    with pytest.raises(UserError):
        cache_system("x", ttl="2h")  # type: ignore[arg-type]


def test_cache_usage_summary() -> None:
    usage = CacheUsage.from_usage(
        {
            "input_tokens": 10,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 60,
            "output_tokens": 5,
        }
    )
    assert usage.total_input == 100
    assert usage.hit_ratio == pytest.approx(0.6)
    assert "cache read 60" in str(usage)


def test_text_windows_by_size_and_sentence() -> None:
    windows: list[str] = []
    observer = TextWindowObserver(windows.append, every=10)
    for piece in ["Hi there. ", "This is a long", "er sentence without stops", " end"]:
        observer.on_text(piece)
    observer.on_message({})
    assert windows[0] == "Hi there. "
    assert all(len(w) <= 11 for w in windows)
    assert "".join(windows) == "Hi there. This is a longer sentence without stops end"


def test_observer_errors_never_propagate(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def boom(_: str) -> None:
        raise RuntimeError("observer bug")

    notify([CallbackObserver(on_text=boom), CallbackObserver(on_text=seen.append)], "on_text", "x")
    assert seen == ["x"]
    assert "observer bug" in caplog.text


def test_image_blocks(tmp_path: Path) -> None:
    block = image_block_from_bytes(PNG)
    assert block["source"]["media_type"] == "image/png"
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert image_block_from_file(path) == block
    with pytest.raises(UserError, match="not JPEG"):
        image_block_from_bytes(b"BM not an image")
    with pytest.raises(UserError, match="image/png, not image/jpeg"):
        image_block_from_bytes(PNG, "image/jpeg")
    with pytest.raises(UserError) as info:
        image_block_from_file(tmp_path / "missing.png")
    assert info.value.field == "path"
    assert image_block_from_url("https://x.test/a.png")["source"] == {
        "type": "url",
        "url": "https://x.test/a.png",
    }
    with pytest.raises(UserError):
        image_block_from_url("file:///etc/passwd")

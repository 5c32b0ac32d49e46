"""The OpenAI stream tap of the pass-through: bytes out as they came (whole frames), usage read off,
on every recorded OpenAI stream cut into pieces anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from claudegate.errors import APIConnectionError
from claudegate.gateway.core._chat_passthrough import ChatRequest, ChatStreamTap
from tests.gateway import _wire

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "openai").glob("*.sse"))


def _tap(sse: bytes, piece: int, add_usage: bool) -> tuple[bytes, ChatStreamTap]:
    tap = ChatStreamTap(add_usage)
    out = b"".join(tap.feed(sse[start : start + piece]) for start in range(0, len(sse), piece))
    return out + tap.finish(), tap


def _usage_of(sse: bytes) -> dict[str, Any]:
    [final] = [chunk for chunk in _wire.chat_chunks(sse) if chunk.get("usage")]
    usage: dict[str, Any] = final["usage"]
    return usage


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
@pytest.mark.parametrize("piece", [1, 7, 64, 100_000])
def test_every_recorded_stream_passes_unchanged_with_its_usage_read(path: Path, piece: int) -> None:
    sse = path.read_bytes()
    out, tap = _tap(sse, piece, add_usage=False)
    assert out == sse
    usage = _usage_of(sse)
    assert tap.usage is not None and tap.done
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    assert tap.usage["input_tokens"] + tap.usage["cache_read_input_tokens"] == usage["prompt_tokens"]
    assert (tap.usage["output_tokens"], tap.usage["cache_read_input_tokens"]) == (
        usage["completion_tokens"],
        cached,
    )


@pytest.mark.parametrize("piece", [3, 100_000])
def test_usage_the_client_did_not_ask_for_is_taken_out(piece: int) -> None:
    sse = (FIXTURES[0].parent / "text_with_usage.sse").read_bytes()
    # As OpenAI streams when asked for usage: a null usage on every chunk, then the usage chunk.
    asked = sse.replace(b"]}\n\n", b'],"usage":null}\n\n')
    out, tap = _tap(asked, piece, add_usage=True)
    expected = b"".join(
        frame + b"\n\n" for frame in sse.split(b"\n\n") if frame and b'"choices":[]' not in frame
    )
    assert out == expected
    assert tap.usage is not None and tap.usage["output_tokens"] == _usage_of(sse)["completion_tokens"]


def test_crlf_frames_and_spaced_json_are_read_too() -> None:
    frames = [
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        },
    ]
    sse = (
        b"".join(b"data: " + orjson.dumps(f).replace(b":", b": ") + b"\r\n\r\n" for f in frames)
        + b"data: [DONE]\r\n\r\n"
    )
    out, tap = _tap(sse, 5, add_usage=False)
    assert out == sse
    assert tap.usage == {
        "input_tokens": 3,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_an_error_chunk_is_read_and_a_stream_cut_short_is_an_error() -> None:
    error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    out, tap = _tap(
        b'data: {"choices": [{"index": 0, "delta": {"content": "\\"error\\": x"}}]}\n\n' + error, 9, False
    )
    assert out.endswith(error)
    assert tap.error is not None and tap.error["error"]["message"] == "overloaded"
    cut = ChatStreamTap(False)
    cut.feed(b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n')
    with pytest.raises(APIConnectionError, match=r"before data: \[DONE\]"):
        cut.finish()


def test_a_content_that_mentions_the_markers_is_not_mistaken_for_them() -> None:
    content = b'"[DONE] \\"usage\\": {\\"error\\": 1}"'
    sse = b'data: {"choices":[{"index":0,"delta":{"content":' + content + b'}}],"usage":null}\n\n'
    tap = ChatStreamTap(add_usage=True)
    assert tap.feed(sse) == sse.replace(b',"usage":null', b"")
    assert (tap.usage, tap.error, tap.done) == (None, None, False)
    assert orjson.loads(sse[6:])["choices"][0]["delta"]["content"] == '[DONE] "usage": {"error": 1}'


def test_the_request_is_sent_as_it_came_unless_renamed_or_usage_must_be_asked() -> None:
    raw = b'{"model": "a",  "messages": [], "seed": 1}'
    plain = ChatRequest.of(orjson.loads(raw), raw, None)
    assert plain.content("a") is raw
    assert orjson.loads(plain.content("b")) == {"model": "b", "messages": [], "seed": 1}
    streamed = b'{"model": "a", "stream": true, "stream_options": {"continuous": true}}'
    asking = ChatRequest.of(orjson.loads(streamed), streamed, None)
    assert orjson.loads(asking.content("a"))["stream_options"] == {"continuous": True, "include_usage": True}
    asked = b'{"model": "a", "stream": true, "stream_options": {"include_usage": true}}'
    assert ChatRequest.of(orjson.loads(asked), asked, None).content("a") is asked

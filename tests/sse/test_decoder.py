from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from claudegate.sse import ServerSentEvent, SSEDecoder, aiter_sse
from tests.sse._streams import decode_chunks, split_at


def decode(raw: bytes) -> list[ServerSentEvent]:
    return decode_chunks([raw])


def test_event_and_data_lines_make_one_event() -> None:
    assert decode(b"event: ping\ndata: {}\n\n") == [ServerSentEvent("ping", "{}")]


def test_events_complete_only_at_the_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: a\ndata: 1\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a", "1")]
    assert decoder.feed(b"data: 2\n\ndata: 3\n\n") == [ServerSentEvent(None, "2"), ServerSentEvent(None, "3")]
    assert decoder.flush() == []


def test_a_blank_line_split_across_chunks_delivers_the_event_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n") == [ServerSentEvent(None, "a")]
    assert decoder.feed(b"\n") == [ServerSentEvent(None, "b")]
    assert decoder.feed(b"data: c\n\nda") == [ServerSentEvent(None, "c")]
    assert decoder.feed(b"ta: d\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent(None, "d")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_gives_the_same_events(newline: bytes) -> None:
    raw = b"event: a\ndata: x\ndata: y\n\n: note\nid: 7\ndata: z\n\n".replace(b"\n", newline)
    assert decode(raw) == [ServerSentEvent("a", "x\ny"), ServerSentEvent(None, "z", "7")]


def test_cr_and_lf_of_one_line_end_split_across_chunks_end_one_line() -> None:
    # Had the LF opening the second chunk counted as a line of its own, "a" would be dispatched
    # alone as soon as it arrived.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent(None, "a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: c\r\n\r\n") == [ServerSentEvent(None, "c")]


def test_lone_cr_line_ends_dispatch_without_waiting_for_more_bytes() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [ServerSentEvent(None, "a")]


def test_mixed_line_endings_in_one_stream() -> None:
    assert decode(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == [
        ServerSentEvent(None, "a\nb\nc"),
        ServerSentEvent(None, "d"),
    ]


def test_multibyte_characters_split_anywhere() -> None:
    raw = "event: é\ndata: ünï €uro 😀 日本\n\n".encode()
    expected = [ServerSentEvent("é", "ünï €uro 😀 日本")]
    for point in range(len(raw)):
        assert decode_chunks(split_at(raw, [point])) == expected
    assert decode_chunks([raw[i : i + 1] for i in range(len(raw))]) == expected


def test_byte_order_mark_is_stripped_once_at_stream_start_even_when_split() -> None:
    raw = b"\xef\xbb\xbfdata: x\n\n"
    for point in range(1, 4):
        assert decode_chunks(split_at(raw, [point])) == [ServerSentEvent(None, "x")]
    # A second mark makes the first field name "\ufeffdata", which is not a field: no event.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []
    assert decode("data: \ufeffx\n\n".encode()) == [ServerSentEvent(None, "\ufeffx")]


def test_short_first_chunks_are_not_mistaken_for_a_byte_order_mark() -> None:
    assert decode_chunks([b"d", b"ata: x\n\n"]) == [ServerSentEvent(None, "x")]
    assert decode_chunks([b"da", b"ta: x"]) == [ServerSentEvent(None, "x")]
    assert decode_chunks([b"\xef", b"\xbb", b"\xbf", b"data: x"]) == [ServerSentEvent(None, "x")]


def test_comments_are_counted_and_reported_never_dispatched() -> None:
    seen: list[str] = []
    decoder = SSEDecoder(on_comment=seen.append)
    events = decoder.feed(b": keepalive\n\n:no-space\nevent: a\n:  two\ndata: 1\n\n")
    assert events == [ServerSentEvent("a", "1")]
    assert seen == ["keepalive", "no-space", " two"]
    assert decoder.comments == 3


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode(b"data: one\ndata: two\ndata:\ndata: four\n\n") == [
        ServerSentEvent(None, "one\ntwo\n\nfour")
    ]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    assert decode(b"data:x\n\ndata:  x\n\nevent:   e\ndata: y \n\n") == [
        ServerSentEvent(None, "x"),
        ServerSentEvent(None, " x"),
        ServerSentEvent("  e", "y "),
    ]


def test_fields_without_a_colon_take_an_empty_value() -> None:
    assert decode(b"data\ndata\n\n") == [ServerSentEvent(None, "\n")]
    assert decode(b"event\ndata: x\n\n") == [ServerSentEvent(None, "x")]


def test_frames_without_data_are_not_dispatched_and_do_not_leak_their_type() -> None:
    assert decode(b"event: ping\n\ndata: x\n\nevent: a\nid: 1\n\n") == [ServerSentEvent(None, "x")]


def test_empty_event_name_means_the_default_type() -> None:
    assert decode(b"event:\ndata: x\n\n") == [ServerSentEvent(None, "x")]


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\ndata: x\nEvent: y\n\n") == [ServerSentEvent(None, "x")]


def test_retry_takes_ascii_digits_only() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 1500\ndata: a\n\nretry: 12a\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\n")
    assert events == [
        ServerSentEvent(None, "a", retry=1500),
        ServerSentEvent(None, "b"),
        ServerSentEvent(None, "c"),
    ]
    assert decoder.retry == 1500
    assert decoder.feed(b"retry: 20\n\n") == []
    assert decoder.retry == 20


def test_id_persists_resets_when_empty_and_is_ignored_with_nul() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [(event.data, event.id) for event in events] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", "")]
    assert decoder.last_event_id == ""


def test_extra_blank_lines_between_frames_create_nothing() -> None:
    assert decode(b"\n\n\ndata: a\n\n\n\n\ndata: b\n\n\n") == [
        ServerSentEvent(None, "a"),
        ServerSentEvent(None, "b"),
    ]


def test_flush_dispatches_a_final_frame_without_its_blank_line() -> None:
    assert decode(b"event: message_stop\ndata: {}") == [ServerSentEvent("message_stop", "{}")]
    assert decode(b"data: x\n") == [ServerSentEvent(None, "x")]
    assert SSEDecoder().flush() == []


def test_flush_replaces_a_truncated_character() -> None:
    assert decode("data: é".encode()[:-1]) == [ServerSentEvent(None, "\ufffd")]


def test_decoder_is_reusable_after_flush_and_keeps_the_last_id() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 9\ndata: a\n\n")
    decoder.flush()
    assert decoder.feed(b"\xef\xbb\xbfdata: b\n\n") == [ServerSentEvent(None, "b", "9")]


def test_a_large_frame_in_small_chunks() -> None:
    payload = "x" * 300_000
    raw = f"data: {payload}\n\n".encode()
    events = decode_chunks([raw[i : i + 1000] for i in range(0, len(raw), 1000)])
    assert events == [ServerSentEvent(None, payload)]


def test_json_helper_accepts_the_padding_the_live_api_sends() -> None:
    (event,) = decode(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0 }      \n\n')
    assert event.json() == {"type": "content_block_stop", "index": 0}


async def test_aiter_sse_yields_events_as_chunks_arrive() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"event: a\nda", b"ta: 1\n\n: hb\n\n", b"data: 2"):
            yield chunk

    comments: list[str] = []
    events = [event async for event in aiter_sse(chunks(), on_comment=comments.append)]
    assert events == [ServerSentEvent("a", "1"), ServerSentEvent(None, "2")]
    assert comments == ["hb"]

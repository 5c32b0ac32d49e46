from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from claudegate.sse import ServerSentEvent, SSEDecoder, encode_comment, encode_event
from tests.sse._streams import decode_chunks, split_at

_NO_LINE_BREAKS = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_IDS = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=8)

# One frame to write: (event name or None, data, id to set or None to leave unchanged, comment first?)
_FRAMES = st.lists(
    st.tuples(st.none() | _NO_LINE_BREAKS, st.text(max_size=40), _IDS, st.booleans()),
    max_size=8,
)


def _encode(frames: list[tuple[str | None, str, str | None, bool]]) -> tuple[bytes, list[ServerSentEvent]]:
    """The wire bytes for ``frames`` and the events a correct decoder must give back."""
    wire = b""
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    for event, data, id, comment in frames:
        if comment:
            wire += encode_comment("keep-alive")
        wire += encode_event(data, event, id=id)
        last_id = id if id is not None else last_id
        # The encoder turns CR LF and CR inside data into separate data lines.
        lines = data.replace("\r\n", "\n").replace("\r", "\n")
        expected.append(ServerSentEvent(event or None, lines, last_id))
    return wire, expected


@given(_FRAMES, st.lists(st.integers(min_value=0, max_value=2_000), max_size=30))
def test_decode_of_encode_is_identity_at_any_chunking(
    frames: list[tuple[str | None, str, str | None, bool]], points: list[int]
) -> None:
    wire, expected = _encode(frames)
    assert decode_chunks(split_at(wire, points)) == expected


@given(_FRAMES, st.sampled_from([b"\r\n", b"\r"]), st.lists(st.integers(0, 2_000), max_size=30))
def test_cr_line_ends_decode_like_lf_at_any_chunking(
    frames: list[tuple[str | None, str, str | None, bool]], newline: bytes, points: list[int]
) -> None:
    wire, expected = _encode(frames)
    assert decode_chunks(split_at(wire.replace(b"\n", newline), points)) == expected


@given(_FRAMES)
def test_comments_are_counted_exactly(frames: list[tuple[str | None, str, str | None, bool]]) -> None:
    wire, _ = _encode(frames)
    decoder = SSEDecoder()
    for index in range(len(wire)):
        decoder.feed(wire[index : index + 1])
    decoder.flush()
    assert decoder.comments == sum(1 for frame in frames if frame[3])


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=20))
def test_arbitrary_bytes_decode_the_same_at_any_chunking(raw: bytes, points: list[int]) -> None:
    # No input makes the decoder fail, and chunk boundaries never change what comes out.
    assert decode_chunks(split_at(raw, points)) == decode_chunks([raw])

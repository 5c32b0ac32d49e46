"""Content codings, without sockets: which ``Accept-Encoding`` values admit gzip, and how bodies are
decoded read by read within the limit."""

from __future__ import annotations

import gzip

import pytest

from claudegate._content_coding import (
    DecodedTooLarge,
    UnsupportedEncoding,
    accepts_gzip,
    body_decoder,
    gzip_bytes,
)


@pytest.mark.parametrize(
    ("header", "admitted"),
    [
        (None, False),
        (b"", False),
        (b"identity", False),
        (b"gzip, deflate", True),
        (b"br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        (b"gzip;q=0", False),
        (b"*", True),
        (b"*;q=0.5, gzip;q=0", False),
        (b"x-gzip", True),
    ],
)
def test_accept_encoding(header: bytes | None, admitted: bool) -> None:
    assert accepts_gzip(header) is admitted


def test_identity_needs_no_decoder_and_unknown_or_stacked_codings_are_refused() -> None:
    assert body_decoder(None, 10) is None and body_decoder(b"identity", 10) is None
    for header in (b"br", b"zstd", b"gzip, gzip"):
        with pytest.raises(UnsupportedEncoding):
            body_decoder(header, 10)


def test_a_body_split_anywhere_and_in_several_members_decodes_whole() -> None:
    wire = gzip_bytes(b"first half, ") + gzip.compress(b"second half")
    decoder = body_decoder(b"GZIP", 1000)
    assert decoder is not None
    decoded = b"".join(decoder.feed(wire[i : i + 3]) for i in range(0, len(wire), 3)) + decoder.finish()
    assert decoded == b"first half, second half"


def test_the_limit_is_on_decoded_bytes_and_stops_decoding_at_once() -> None:
    decoder = body_decoder(b"gzip", 100)
    assert decoder is not None
    assert decoder.feed(gzip_bytes(b"a" * 100)) == b"a" * 100  # exactly the limit
    decoder = body_decoder(b"gzip", 100)
    assert decoder is not None
    with pytest.raises(DecodedTooLarge):
        decoder.feed(gzip_bytes(b"a" * (50 << 20)))
    assert decoder.size == 101  # one byte past the limit decoded, not 50 MiB

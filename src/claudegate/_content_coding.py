"""HTTP content codings for the servers (gateway and simulator): compressed request bodies decoded
within a size limit, and answers gzipped for clients that accept it.

A request body sent with ``Content-Encoding: gzip`` or ``deflate`` is inflated as it arrives, one
read at a time, and the size limit is held against the *decoded* bytes: inflating stops as soon as
the output passes the limit, so a small body that expands enormously (a "zip bomb") costs at most
the limit in memory and its own few reads in CPU. ``br`` and other codings are refused: no
maintained decoder for them is a dependency.

Nothing here does I/O: a server feeds the decoder what it reads and answers its exceptions in its
own dialect (413 for ``DecodedTooLarge``, 415 for ``UnsupportedEncoding``, 400 for
``MalformedEncoding``).
"""

from __future__ import annotations

import zlib

__all__ = [
    "GZIP_LEVEL",
    "SUPPORTED_ENCODINGS",
    "BodyDecoder",
    "DecodedTooLarge",
    "MalformedEncoding",
    "UnsupportedEncoding",
    "accepts_gzip",
    "body_decoder",
    "gzip_bytes",
]

SUPPORTED_ENCODINGS = ("gzip", "deflate")
"""The request content codings servers decode (``x-gzip`` is read as ``gzip``)."""
GZIP_LEVEL = 5
"""zlib's level for answers: as small as level 9 on JSON at half its CPU (a 5 KB model list: 379
bytes in 17 µs, against 382 bytes in 33 µs)."""

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(ValueError):
    """The request names a content coding the server cannot decode."""

    def __init__(self, coding: str) -> None:
        shown = coding if len(coding) <= 40 else coding[:40] + "…"
        super().__init__(
            f"content-encoding {shown!r} is not supported; send the body as it is, or encoded with "
            + " or ".join(SUPPORTED_ENCODINGS)
        )
        self.coding = coding


class MalformedEncoding(ValueError):
    """The body is not valid data of the coding its ``Content-Encoding`` names."""


class DecodedTooLarge(ValueError):
    """The decoded body is larger than the limit."""

    def __init__(self, limit: int, coding: str) -> None:
        super().__init__(
            f"request body is larger than {limit} bytes once decoded (content-encoding: {coding})"
        )
        self.limit = limit


def body_decoder(header: bytes | None, limit: int) -> BodyDecoder | None:
    """A decoder for a body sent with ``Content-Encoding: header``; None when it needs none.

    Raises ``UnsupportedEncoding`` for a coding not in ``SUPPORTED_ENCODINGS`` (or more than one).
    """
    if header is None:
        return None
    codings = [part.strip().lower() for part in header.decode("latin-1").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _WBITS:
        raise UnsupportedEncoding(", ".join(codings))
    return BodyDecoder(codings[0], limit)


class BodyDecoder:
    """Inflates one request body read by read, never past ``limit`` decoded bytes.

    >>> decoder = BodyDecoder("gzip", limit=1 << 20)
    >>> body = decoder.feed(first_read) + decoder.feed(second_read) + decoder.finish()
    """

    __slots__ = ("_decoder", "_fed", "_limit", "_wbits", "coding", "size")

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = "gzip" if coding == "x-gzip" else coding
        self._wbits = _WBITS[coding]
        self._decoder = zlib.decompressobj(self._wbits)
        self._limit = limit
        self._fed = False
        self.size = 0
        """Decoded bytes so far."""

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes ``data`` brings; ``DecodedTooLarge`` past the limit."""
        pieces: list[bytes] = []
        if data and not self._fed and self.coding == "deflate" and data[0] & 0x0F != 8:
            # Not a zlib header: a raw deflate stream, as some clients send for "deflate".
            self._wbits = -zlib.MAX_WBITS
            self._decoder = zlib.decompressobj(self._wbits)
        while data:
            self._fed = True
            decoder = self._decoder
            try:
                # One byte past the room left is enough to know the limit is passed.
                piece = decoder.decompress(data, self._limit - self.size + 1)
            except zlib.error as exc:
                raise MalformedEncoding(f"the request body is not valid {self.coding} data ({exc})") from None
            self.size += len(piece)
            if self.size > self._limit:
                raise DecodedTooLarge(self._limit, self.coding)
            pieces.append(piece)
            # Input is left over only at the end of a gzip member: another may follow (RFC 1952).
            data = decoder.unused_data if decoder.eof else b""
            if data:
                self._decoder = zlib.decompressobj(self._wbits)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def finish(self) -> bytes:
        """What is left once the body has ended; ``MalformedEncoding`` when it ended early."""
        if self._fed and not self._decoder.eof:
            raise MalformedEncoding(f"the request body ends before its {self.coding} data does")
        return b""


def accepts_gzip(header: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (by name or ``*``, with a q-value above 0)."""
    if not header or (b"gzip" not in header and b"*" not in header):
        return False
    named: float | None = None
    wildcard: float | None = None
    for item in header.decode("latin-1").lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if coding in ("gzip", "x-gzip"):
            named = quality
        elif coding == "*":
            wildcard = quality
    chosen = named if named is not None else wildcard
    return chosen is not None and chosen > 0


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``data`` as one gzip member (no file name, zero time: the same input gives the same bytes)."""
    return zlib.compress(data, level, wbits=zlib.MAX_WBITS | 16)

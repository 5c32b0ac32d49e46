"""Documents cut into chunks for embedding: at most ``size`` characters each, cut between sentences
where possible, consecutive chunks sharing up to ``overlap`` characters of whole sentences.

Sentences end at ``.``, ``!`` or ``?`` followed by whitespace, and at line breaks (so Markdown
headings, list items and table rows stand alone). A sentence longer than ``size`` is cut at the
last whitespace that fits (or, with none, at ``size``).
"""

from __future__ import annotations

import re

__all__ = ["chunk_text", "sentences"]

_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def sentences(text: str) -> list[str]:
    """The text's sentences and lines, stripped, empty ones left out."""
    return [piece for piece in (part.strip() for part in _BREAK.split(text)) if piece]


def _pieces(sentence: str, size: int) -> list[str]:
    out: list[str] = []
    while len(sentence) > size:
        cut = sentence.rfind(" ", 0, size + 1)
        if cut <= 0:
            cut = size
        out.append(sentence[:cut].rstrip())
        sentence = sentence[cut:].lstrip()
    if sentence:
        out.append(sentence)
    return out


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    """The chunks of ``text`` (see the module docstring); ``overlap`` must be below ``size``."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("chunking needs size >= 1 and 0 <= overlap < size")
    units = [piece for sentence in sentences(text) for piece in _pieces(sentence, size)]
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    fresh = 0  # units of ``current`` not already in the previous chunk
    for unit in units:
        added = len(unit) + (1 if current else 0)
        if current and length + added > size:
            if fresh:
                chunks.append(" ".join(current))
            current, length = _tail(current, overlap, size - len(unit) - 1)
            fresh = 0
            added = len(unit) + (1 if current else 0)
        current.append(unit)
        length += added
        fresh += 1
    if current and fresh:
        chunks.append(" ".join(current))
    return chunks


def _tail(units: list[str], overlap: int, room: int) -> tuple[list[str], int]:
    """The last whole units of a chunk, within ``overlap`` characters and the ``room`` left."""
    kept: list[str] = []
    length = 0
    for unit in reversed(units):
        grown = length + len(unit) + (1 if kept else 0)
        if grown > min(overlap, room):
            break
        kept.insert(0, unit)
        length = grown
    return kept, length

"""The labelled retrieval set (see data/README.md): the documentation sections and the questions."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

__all__ = ["DATA", "questions", "sections", "split_sections"]

DATA = Path(__file__).parent / "data"
_HEADING = re.compile(r"#{1,6} ")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _heading_starts(text: str) -> list[int]:
    """Offsets of the Markdown headings outside fenced code."""
    starts, offset, fenced = [], 0, False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and _HEADING.match(line):
            starts.append(offset)
        offset += len(line)
    return starts


def split_sections(name: str, text: str) -> list[tuple[str, str]]:
    """``(id, text)`` per heading-led section of a Markdown file: ids ``<file>#<heading slug>``."""
    starts = _heading_starts(text)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    out: list[tuple[str, str]] = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        body = text[start:end].strip()
        if not body:
            continue
        first = body.splitlines()[0]
        title = first.lstrip("#").strip() if first.startswith("#") else "intro"
        section_id = f"{name}#{_slug(title)}"
        while section_id in {existing for existing, _ in out}:
            section_id += "-2"
        out.append((section_id, body))
    return out


def sections() -> list[tuple[str, str]]:
    """Every section of the committed snapshot."""
    lines = (DATA / "docs_sections.jsonl").read_bytes().splitlines()
    return [(row["id"], row["text"]) for row in map(orjson.loads, lines)]


def questions() -> list[tuple[str, list[str]]]:
    """Every question and the ids of the sections that answer it."""
    lines = (DATA / "questions.jsonl").read_bytes().splitlines()
    return [(row["question"], row["relevant"]) for row in map(orjson.loads, lines)]

"""Chunks stay within their size, break between sentences, and overlap by whole sentences."""

from __future__ import annotations

import itertools

import pytest

from claudegate.retrieval import chunk_text
from claudegate.retrieval._chunking import sentences

TEXT = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(60))


def test_chunks_respect_size_and_end_at_sentences() -> None:
    chunks = chunk_text(TEXT, size=200, overlap=60)
    assert len(chunks) > 10
    assert all(len(chunk) <= 200 for chunk in chunks)
    assert all(chunk.endswith(".") and chunk[0].isupper() for chunk in chunks)
    assert "Sentence number 59 says something about topic 3." in chunks[-1]


def test_consecutive_chunks_share_whole_sentences_up_to_the_overlap() -> None:
    chunks = chunk_text(TEXT, size=200, overlap=60)
    for previous, following in itertools.pairwise(chunks):
        first = sentences(following)[0]
        assert first in sentences(previous)
        shared = [s for s in sentences(following) if s in sentences(previous)]
        assert len(" ".join(shared)) <= 60


def test_no_overlap_loses_nothing_and_repeats_nothing() -> None:
    chunks = chunk_text(TEXT, size=150, overlap=0)
    assert " ".join(chunks) == TEXT


def test_headings_and_list_items_stand_alone_and_long_sentences_are_cut_at_spaces() -> None:
    text = "# Title\n- one item\n- another item\n\n" + "word " * 100
    assert sentences(text)[:3] == ["# Title", "- one item", "- another item"]
    chunks = chunk_text(text, size=50, overlap=0)
    assert chunks[0] == "# Title - one item - another item"
    assert all(len(chunk) <= 50 and not chunk.endswith(" ") for chunk in chunks)
    assert all(set(chunk.split()) == {"word"} for chunk in chunks[1:])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", size=10, overlap=10)

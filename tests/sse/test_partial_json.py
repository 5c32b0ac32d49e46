"""The partial JSON parser that finishes cut tool input agrees with the official SDK's (jiter)."""

from __future__ import annotations

import json
from typing import Any

import jiter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudegate.sse._partial_json import parse_partial_json

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


def sdk_partial(text: str) -> Any:
    """What the SDK's stream helper computes for a tool's accumulated partial_json."""
    return jiter.from_json(text.encode(), partial_mode=True)


def assert_agrees_with_sdk(text: str) -> None:
    try:
        expected = sdk_partial(text)
    except ValueError:
        with pytest.raises(ValueError):
            parse_partial_json(text)
        return
    assert parse_partial_json(text) == expected, text


@given(JSON_VALUES, st.booleans(), st.sampled_from([None, 1]))
def test_every_prefix_of_a_document_parses_as_the_sdk_does(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    assert parse_partial_json(document) == value
    for end in range(len(document)):
        assert_agrees_with_sdk(document[:end])


@given(st.text(alphabet='{}[]",:0123456789.eE+-truefalsn \\u', max_size=30))
def test_on_json_like_noise_it_is_never_laxer_than_the_sdk_and_never_disagrees(text: str) -> None:
    # On garbage the SDK's parser recovers in places ("[1 2" gives [1]); this one refuses instead.
    # Whatever it does accept must give the SDK's value.
    try:
        value = parse_partial_json(text)
    except ValueError:
        return
    assert sdk_partial(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"filename": "taxes.txt", "lines": ["a", "", "Filing tax',
            {"filename": "taxes.txt", "lines": ["a", ""]},
        ),
        ('{"a": 12', {"a": 12}),
        ('{"a": 1.', {}),
        ('{"a": tru', {}),
        ('{"a": [1, {"b": "c', {"a": [1, {}]}),
        ('{"a": "x\\u00', {}),
        ('{"a"', {}),
        ("[1, 2,", [1, 2]),
        ('{"a": {"b": null}, "c": [true, false]}', {"a": {"b": None}, "c": [True, False]}),
    ],
)
def test_cut_documents(text: str, expected: Any) -> None:
    assert parse_partial_json(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "tru", '"abc', "1.", "[1,]", '{"a":1,}', "{1: 2}", "[1 x", "nope"]
)
def test_text_that_gives_no_value_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_json(text)


def test_whatever_follows_the_first_whole_value_is_ignored_as_by_the_sdk() -> None:
    assert parse_partial_json('{"a": [1]} trailing') == {"a": [1]}
    assert parse_partial_json("12 13") == 12


def test_deep_nesting_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_partial_json("[" * 100_000)

"""A tool input cut by ``max_tokens`` parses to what the official SDK's stream helper reports."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jiter import from_json

from claudegate.sse import parse_partial_json

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def _reference(prefix: str) -> Any:
    try:
        return from_json(prefix.encode(), partial_mode=True)
    except ValueError:
        return None


@settings(max_examples=120, deadline=None)
@given(value=st.dictionaries(st.text(max_size=6), JSON, max_size=5), compact=st.booleans())
def test_every_prefix_parses_like_the_sdk(value: dict[str, Any], compact: bool) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)
    for end in range(1, len(text) + 1):
        assert parse_partial_json(text[:end]) == _reference(text[:end]), text[:end]


def test_whole_documents_parse_exactly() -> None:
    text = '{"a": [1, 2.5, -3e2, true, null, {"b": "x\\"y"}], "c": {}}'
    assert parse_partial_json(text) == json.loads(text)


def test_unfinished_scalars_are_dropped_with_their_key() -> None:
    assert parse_partial_json('{"done": "yes", "cut": "no') == {"done": "yes"}
    assert parse_partial_json('{"n": 12') == {"n": 12}
    assert parse_partial_json('{"n": 1.') == {}
    assert parse_partial_json('["a", tr') == ["a"]

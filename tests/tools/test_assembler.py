from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claudegate.tools import InMemoryToolMetrics, ToolArgumentAssembler, ToolRegistry, _assembler, tool


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city."""
    return city * days


TRICKY = {"q": 'a "quoted" } ] { [ \\ back\\slash', "n": [1, {"x": '\\"'}], "u": "é\u2028"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(cut, len(text)) for cut in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.lists(st.integers(0, 400)))
def test_arguments_come_out_once_exactly_when_the_last_needed_fragment_arrives(
    value: dict[str, Any], cuts: list[int]
) -> None:
    text = orjson.dumps(value).decode()
    pieces = _split(text, cuts)
    assembler = ToolArgumentAssembler()
    assembler.start(0, name="anything")
    outputs = [assembler.feed(0, piece) for piece in pieces]
    last_needed = max(i for i, piece in enumerate(pieces) if piece)
    assert all(out is None for i, out in enumerate(outputs) if i != last_needed)
    result = outputs[last_needed]
    assert result is not None
    assert result.arguments == value
    assert orjson.loads(result.text) == value
    assert not result.repaired
    assert assembler.repairs == 0


def test_braces_quotes_and_escapes_inside_strings_do_not_close_the_call() -> None:
    text = orjson.dumps(TRICKY).decode()
    assembler = ToolArgumentAssembler()
    for char in text[:-1]:
        assert assembler.feed(3, char) is None
    result = assembler.feed(3, text[-1])
    assert result is not None and result.arguments == TRICKY


def test_text_is_parsed_once_however_many_fragments(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = _assembler._loads

    def counting(text: str) -> Any:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(_assembler, "_loads", counting)
    text = orjson.dumps({"items": [{"id": i, "name": f"n{i}"} for i in range(300)]}).decode()
    assembler = ToolArgumentAssembler()
    results = [assembler.feed(0, text[i : i + 3]) for i in range(0, len(text), 3)]
    assert next(r for r in results if r is not None).arguments["items"][299]["name"] == "n299"
    assert parsed == [text]


def test_whole_arguments_are_checked_against_the_registry_schema() -> None:
    assembler = ToolArgumentAssembler(ToolRegistry([get_weather]))
    assembler.start(1, name="get_weather", id="toolu_1")
    good = assembler.feed(1, '{"city": "Paris", "days": 2}')
    assert good is not None and good.problem is None and good.id == "toolu_1"
    assembler.start(2, name="get_weather")
    bad = assembler.feed(2, '{"days": "two"}')
    assert bad is not None and bad.problem is not None
    assert "city" in bad.problem and "days" in bad.problem


def test_a_dict_of_schemas_works_like_a_registry_and_unknown_tools_are_not_checked() -> None:
    schemas = {"lookup": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}
    assembler = ToolArgumentAssembler(schemas)
    assembler.start(0, name="lookup")
    assembler.start(1, name="other")
    first = assembler.feed(0, "{}")
    second = assembler.feed(1, "{}")
    assert first is not None and first.problem is not None and "id" in first.problem
    assert second is not None and second.problem is None


def test_finish_repairs_a_cut_call_and_counts_it_in_the_metrics() -> None:
    metrics = InMemoryToolMetrics()
    heard: list[str | None] = []
    assembler = ToolArgumentAssembler(metrics=metrics, on_repair=heard.append)
    assembler.start(0, name="get_weather")
    assembler.start(1, name="get_weather")
    assert assembler.feed(0, '{"city": "Paris"}') is not None
    assert assembler.feed(1, '{"city": "Lyon", "days": 3, "note": "unfini') is None
    whole, cut = assembler.finish()
    assert whole.arguments == {"city": "Paris"} and not whole.repaired
    assert cut.arguments == {"city": "Lyon", "days": 3} and cut.repaired
    assert cut.text == '{"city":"Lyon","days":3}'
    assert assembler.repairs == 1
    assert heard == ["get_weather"]
    assert metrics.stats["get_weather"].repairs == 1
    assert assembler.open_keys == []


def test_empty_arguments_are_an_empty_object_without_a_repair() -> None:
    assembler = ToolArgumentAssembler()
    assembler.start(4, name="ping")
    result = assembler.close(4)
    assert result.arguments == {} and result.text == "{}" and not result.repaired
    assert assembler.repairs == 0


def test_broken_json_is_repaired_to_an_object_only_when_closed() -> None:
    assembler = ToolArgumentAssembler()
    assert assembler.feed(0, '{"a": 1,, "b": 2}') is None
    result = assembler.close(0)
    assert result.repaired and result.arguments == {}
    assert assembler.repairs == 1


def test_anthropic_events_are_keyed_by_block_index() -> None:
    assembler = ToolArgumentAssembler()
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "{"}},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ty":"X"}'},
        },
    ]
    results = [assembler.feed_anthropic(event) for event in events]
    assert results[:4] == [None] * 4
    final = results[4]
    assert final is not None and (final.key, final.id, final.name) == (1, "toolu_9", "get_weather")
    assert final.arguments == {"city": "X"}
    assert 0 not in assembler


def test_openai_chunks_are_keyed_by_tool_call_index() -> None:
    assembler = ToolArgumentAssembler()

    def chunk(index: int, arguments: str, **first: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if first:
            call["id"] = first["id"]
            call["function"]["name"] = first["name"]
        return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}

    assert assembler.feed_openai(chunk(0, '{"city":', id="call_a", name="get_weather")) == []
    assert assembler.feed_openai(chunk(1, '{"city": "B"', id="call_b", name="get_weather")) == []
    first = assembler.feed_openai(chunk(0, '"A"}'))
    second = assembler.feed_openai(chunk(1, "}"))
    assert [(r.id, r.arguments) for r in first + second] == [
        ("call_a", {"city": "A"}),
        ("call_b", {"city": "B"}),
    ]

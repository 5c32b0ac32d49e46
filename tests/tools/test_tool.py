from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import AfterValidator, BaseModel, Field

from claudegate.errors import UserError
from claudegate.tools import Tool, parse_docstring, tool
from claudegate.tools._validation import ArgumentsInvalid


def test_google_docstring_gives_description_and_parameter_texts() -> None:
    @tool
    async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        """Current weather for a city.

        Args:
            city: City name,
                for example "Paris".
            unit: Temperature unit.

        Returns:
            A short report.
        """
        return city

    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather for a city."
    props = get_weather.input_schema["properties"]
    assert props["city"]["description"] == 'City name, for example "Paris".'
    assert props["unit"]["enum"] == ["c", "f"]
    assert get_weather.input_schema["required"] == ["city"]
    assert get_weather.input_schema["additionalProperties"] is False


def test_numpy_and_sphinx_docstrings() -> None:
    numpy = parse_docstring(
        """Sum.

        Parameters
        ----------
        a : int
            The first term.
        b : int
            The second.
        """
    )
    assert numpy.description == "Sum."
    assert numpy.params == {"a": "The first term.", "b": "The second."}
    sphinx = parse_docstring("Sum.\n\n:param a: The first term.\n:param int b: The second.\n:returns: x")
    assert sphinx.description == "Sum."
    assert sphinx.params == {"a": "The first term.", "b": "The second."}


def test_plain_json_tool_validates_with_field_level_messages() -> None:
    @tool
    def scale(value: Annotated[int, Field(ge=0, le=10)], label: str = "x") -> str:
        """Scale."""
        return label * value

    assert scale.call({"value": 3}) == "xxx"
    with pytest.raises(ArgumentsInvalid, match=r"value: 11 is greater than the maximum of 10"):
        scale.call({"value": 11})
    with pytest.raises(ArgumentsInvalid, match=r"value"):
        scale.call({})
    with pytest.raises(ArgumentsInvalid, match=r"extra"):
        scale.call({"value": 1, "extra": True})


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int


def test_rich_types_are_converted_by_pydantic() -> None:
    seen: list[Any] = []

    @tool
    def paint(color: Color, at: Point) -> str:
        """Paint a point."""
        seen.append((color, at))
        return "ok"

    paint.call({"color": "red", "at": {"x": 1, "y": 2}})
    assert seen == [(Color.RED, Point(x=1, y=2))]
    assert "$defs" in paint.input_schema
    with pytest.raises(ArgumentsInvalid, match=r"at\.y: Field required"):
        paint.call({"color": "blue", "at": {"x": 1}})


def even(value: int) -> int:
    if value % 2:
        raise ValueError("must be even")
    return value


def test_custom_python_check_is_applied() -> None:
    @tool
    def half(n: Annotated[int, AfterValidator(even)]) -> int:
        """Halve an even number."""
        return n // 2

    assert half.call({"n": 4}) == 2
    with pytest.raises(ArgumentsInvalid, match=r"n: Value error, must be even"):
        half.call({"n": 3})


def test_from_schema_validates_with_the_compiled_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string", "minLength": 2}},
        "required": ["q"],
    }
    search = Tool.from_schema("search", schema, lambda args: args["q"].upper(), description="Search.")
    assert search.call({"q": "ab"}) == "AB"
    with pytest.raises(ArgumentsInvalid, match=r"q: .*shorter than 2"):
        search.call({"q": "a"})
    with pytest.raises(UserError):
        Tool.from_schema("bad", {"type": "string"}, lambda args: args)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dot.name", "ünï"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(UserError, match="tool name"):
        tool(name=name)(lambda: None)


def test_parameters_need_hints_and_keywords() -> None:
    def untyped(a):  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(UserError, match="type hint"):
        tool(untyped)

    def star(*args: int) -> int:
        return 0

    with pytest.raises(UserError, match="keyword"):
        tool(star)


def test_policy_is_checked() -> None:
    with pytest.raises(UserError, match="retry_on"):
        tool(retries=2)(lambda: None)
    with pytest.raises(UserError, match="timeout"):
        tool(timeout=0)(lambda: None)

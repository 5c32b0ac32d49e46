"""JSON for tool input that may have been cut short: the best value a prefix of a document gives.

A stream cut by ``max_tokens`` leaves a tool block's ``partial_json`` unfinished. The value kept is
the one the official SDK's stream helper reports: containers still open are closed, and a trailing
scalar that is not finished (a string without its closing quote, ``tru``, ``1.``, ``-``) is dropped
with its key. A number that could still grow (``12`` at the very end) counts as finished. Text
that is not a prefix of valid JSON is an error, as is a bare scalar that is not finished.

Only cut input comes here: whole documents go to a regular JSON parser first.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["parse_partial_json"]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRING_BODY = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+'
_STRING = re.compile(_STRING_BODY + '"')
_STRING_PREFIX = re.compile(_STRING_BODY + r"(?:\\(?:u[0-9a-fA-F]{0,3})?)?\Z")
_NUMBER_RUN = re.compile(r"[-+0-9.eE]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PREFIX = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.(?:[0-9]+(?:[eE][+-]?[0-9]*)?)?|[eE][+-]?[0-9]*)?)?")
_LITERALS: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))


class _Cut(Exception):
    """The text ended inside a scalar."""


def parse_partial_json(text: str) -> Any:
    """The best value a possibly cut JSON document gives (see the module docstring for the rules).

    Raises ``ValueError`` when ``text`` is blank, is not a prefix of valid JSON, or is a bare scalar
    that was cut. Like the SDK's parser, it stops at the end of the first whole top-level value.
    """
    parser = _Parser(text)
    start = parser.skip(0)
    if start >= parser.end:
        raise ValueError("no JSON value (the text is empty)")
    try:
        value, _, _ = parser.value(start)
    except _Cut:
        raise ValueError("the text ends inside a JSON value") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return value


class _Parser:
    __slots__ = ("end", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)

    def skip(self, index: int) -> int:
        match = _WHITESPACE.match(self.text, index)
        return match.end() if match is not None else index

    def value(self, index: int) -> tuple[Any, int, bool]:
        """Parse the value at ``index``: (value, next index, whether it was closed)."""
        if index >= self.end:
            raise _Cut
        char = self.text[index]
        if char == "{":
            return self.object(index + 1)
        if char == "[":
            return self.array(index + 1)
        if char == '"':
            text, after = self.string(index)
            return text, after, True
        if char == "-" or "0" <= char <= "9":
            return self.number(index)
        rest = self.text[index : index + 5]
        for word, literal in _LITERALS:
            if rest.startswith(word):
                return literal, index + len(word), True
            if index + len(rest) == self.end and word.startswith(rest):
                raise _Cut
        raise ValueError(f"unexpected character {char!r} at offset {index}")

    def string(self, index: int) -> tuple[str, int]:
        match = _STRING.match(self.text, index)
        if match is not None:
            try:
                text: str = orjson.loads(match.group())
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"invalid string at offset {index}: {exc}") from None
            return text, match.end()
        if _STRING_PREFIX.match(self.text, index) is not None:
            raise _Cut
        raise ValueError(f"invalid string at offset {index}")

    def number(self, index: int) -> tuple[Any, int, bool]:
        run = _NUMBER_RUN.match(self.text, index)
        token = run.group() if run is not None else ""
        after = index + len(token)
        if _NUMBER.fullmatch(token) is not None:
            if "." in token or "e" in token or "E" in token:
                return float(token), after, True
            return int(token), after, True
        if after == self.end and _NUMBER_PREFIX.fullmatch(token) is not None:
            raise _Cut
        raise ValueError(f"invalid number {token!r} at offset {index}")

    def object(self, index: int) -> tuple[dict[str, Any], int, bool]:
        result: dict[str, Any] = {}
        index = self.skip(index)
        if index < self.end and self.text[index] == "}":
            return result, index + 1, True
        while index < self.end:
            if self.text[index] != '"':
                raise ValueError(f"expected a key at offset {index}")
            try:
                key, index = self.string(index)
            except _Cut:
                break
            index = self.skip(index)
            if index >= self.end:
                break
            if self.text[index] != ":":
                raise ValueError(f"expected ':' at offset {index}")
            try:
                item, index, complete = self.value(self.skip(index + 1))
            except _Cut:
                break
            result[key] = item
            if not complete:
                break
            index = self.skip(index)
            if index >= self.end:
                break
            if self.text[index] == "}":
                return result, index + 1, True
            if self.text[index] != ",":
                raise ValueError(f"expected ',' or '}}' at offset {index}")
            index = self.skip(index + 1)
        return result, self.end, False

    def array(self, index: int) -> tuple[list[Any], int, bool]:
        result: list[Any] = []
        index = self.skip(index)
        if index < self.end and self.text[index] == "]":
            return result, index + 1, True
        while index < self.end:
            try:
                item, index, complete = self.value(index)
            except _Cut:
                break
            result.append(item)
            if not complete:
                break
            index = self.skip(index)
            if index >= self.end:
                break
            if self.text[index] == "]":
                return result, index + 1, True
            if self.text[index] != ",":
                raise ValueError(f"expected ',' or ']' at offset {index}")
            index = self.skip(index + 1)
            if index < self.end and self.text[index] == "]":
                raise ValueError(f"trailing comma before offset {index}")
        return result, self.end, False

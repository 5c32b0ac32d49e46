"""String values for invented tool inputs: words, formats, regular-expression patterns, lengths."""

from __future__ import annotations

import importlib
import random
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FORMATS", "MAX_LENGTH", "fit_length", "string_for_pattern"]

MAX_LENGTH = 100_000
"""The longest string generated for a ``minLength`` or a pattern."""


def _load_parser(load: Callable[[str], Any] = importlib.import_module) -> tuple[Any, int] | None:
    """The standard library's own regular-expression parser, and its "no upper bound" repeat count.

    It is private to ``re`` (the only way to walk a pattern's structure), so it may move or change:
    without it, patterns are beyond this generator and schemas fall back to plain strings.
    """
    try:
        parser = load("re._parser")
        maxrepeat = int(load("re._constants").MAXREPEAT)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return (parser, maxrepeat) if callable(getattr(parser, "parse", None)) else None


_LOADED = _load_parser()
_PARSER: Any = _LOADED[0] if _LOADED is not None else None
_MAXREPEAT: int = _LOADED[1] if _LOADED is not None else -1

_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0123456789",
    "CATEGORY_NOT_DIGIT": "abcxyzABC",
    "CATEGORY_WORD": "abcdefxyz0123_",
    "CATEGORY_NOT_WORD": "-. ",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "abcxyz019",
}
_POOL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. "


def _slug(word: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", word.lower()).strip("-") or "item"


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2020, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


FORMATS: dict[str, Callable[[random.Random, str], str]] = {
    "date": lambda rng, word: _date(rng),
    "time": lambda rng, word: _time(rng),
    "date-time": lambda rng, word: f"{_date(rng)}T{_time(rng)}",
    "email": lambda rng, word: f"{_slug(word)}@example.com",
    "idn-email": lambda rng, word: f"{_slug(word)}@example.com",
    "hostname": lambda rng, word: f"{_slug(word)}.example.com",
    "idn-hostname": lambda rng, word: f"{_slug(word)}.example.com",
    "ipv4": lambda rng, word: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng, word: f"2001:db8::{rng.randint(1, 0xFFFF):x}",
    "uri": lambda rng, word: f"https://example.com/{_slug(word)}",
    "url": lambda rng, word: f"https://example.com/{_slug(word)}",
    "iri": lambda rng, word: f"https://example.com/{_slug(word)}",
    "uri-reference": lambda rng, word: f"/{_slug(word)}",
    "iri-reference": lambda rng, word: f"/{_slug(word)}",
    "uuid": lambda rng, word: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "duration": lambda rng, word: f"P{rng.randint(1, 30)}D",
    "json-pointer": lambda rng, word: f"/{_slug(word)}",
    "regex": lambda rng, word: "^[a-z]+$",
}


def fit_length(text: str, min_length: int, max_length: int | None) -> str:
    """Pad or cut a string to lie within the length bounds (counted in code points, as JSON Schema)."""
    if len(text) < min_length:
        filler = (text.replace(" ", "-") or "x") + "-"
        text = (text + "-" + filler * (min_length // len(filler) + 1))[:min_length]
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text


def _set_member(items: list[tuple[Any, Any]], rng: random.Random) -> str | None:
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    if negate:
        excluded = items[1:]
        candidates = [char for char in _POOL if not any(_in_set_item(char, item) for item in excluded)]
        return rng.choice(candidates) if candidates else None
    options: list[str] = []
    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            options.append(chr(value))
        elif name == "RANGE":
            options.append(chr(rng.randint(value[0], value[1])))
        elif name == "CATEGORY":
            chars = _CATEGORY_CHARS.get(str(value))
            if chars:
                options.append(rng.choice(chars))
    return rng.choice(options) if options else None


def _in_set_item(char: str, item: tuple[Any, Any]) -> bool:
    op, value = item
    name = str(op)
    if name == "LITERAL":
        return bool(ord(char) == value)
    if name == "RANGE":
        return bool(value[0] <= ord(char) <= value[1])
    if name == "CATEGORY":
        return bool(re.fullmatch(_category_regex(str(value)), char))
    return True


def _category_regex(category: str) -> str:
    return {
        "CATEGORY_DIGIT": r"\d",
        "CATEGORY_NOT_DIGIT": r"\D",
        "CATEGORY_WORD": r"\w",
        "CATEGORY_NOT_WORD": r"\W",
        "CATEGORY_SPACE": r"\s",
        "CATEGORY_NOT_SPACE": r"\S",
    }.get(category, ".")


def _repeat(value: tuple[int, int, Any], rng: random.Random, out: list[str]) -> bool:
    low, high, sub = value
    upper = low + 3 if high == _MAXREPEAT else min(high, low + 3)
    # Repeats are what can make a string huge (``a{100000000}``): stop past the length limit.
    return all(
        len(out) <= MAX_LENGTH and _emit(sub, rng, out) for _ in range(rng.randint(low, max(low, upper)))
    )


def _emit(items: Sequence[tuple[Any, Any]], rng: random.Random, out: list[str]) -> bool:
    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(value))
        elif name == "NOT_LITERAL":
            out.append(rng.choice([char for char in "abcxyz0" if ord(char) != value]))
        elif name == "ANY":
            out.append(rng.choice("abcxyz"))
        elif name == "IN":
            char = _set_member(list(value), rng)
            if char is None:
                return False
            out.append(char)
        elif name == "CATEGORY":
            out.append(rng.choice(_CATEGORY_CHARS.get(str(value), "a")))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if not _repeat(value, rng, out):
                return False
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            if not _emit(value[-1], rng, out):
                return False
        elif name == "BRANCH":
            if not _emit(rng.choice(value[1]), rng, out):
                return False
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        else:
            return False
    return True


_ONE_CHAR = frozenset({"LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY"})
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


def _shortest(items: Sequence[tuple[Any, Any]]) -> int:
    """The length of the shortest string a parsed pattern matches (an estimate from below)."""
    total = 0
    for op, value in items:
        name = str(op)
        if name in _ONE_CHAR:
            total += 1
        elif name in _REPEATS:
            total += value[0] * _shortest(value[2]) if value[0] else 0
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            total += _shortest(value[-1])
        elif name == "BRANCH":
            total += min(_shortest(branch) for branch in value[1])
        if total > MAX_LENGTH:
            break
    return total


def string_for_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching a regular expression, or None when the pattern is beyond this generator.

    Beyond it: syntax the generator does not know, and patterns whose matches are all longer
    than ``MAX_LENGTH``.
    """
    if _PARSER is None:
        return None
    out: list[str] = []
    try:
        parsed = list(_PARSER.parse(pattern))
        if _shortest(parsed) > MAX_LENGTH or not _emit(parsed, rng, out):
            return None
    except (re.error, TypeError, ValueError, IndexError, AttributeError, OverflowError, RecursionError):
        # A pattern Python cannot parse, or a parser whose structure changed: give up, not crash.
        return None
    text = "".join(out)
    return text if re.search(pattern, text) else None

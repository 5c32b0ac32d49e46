"""Docstrings read for a tool: the description, and each parameter's description.

Understood styles: Google (``Args:`` / ``Arguments:`` / ``Parameters:`` sections), NumPy
(``Parameters`` underlined with dashes) and Sphinx (``:param name: text``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_docstring"]

_GOOGLE_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(?::.*)?$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SECTION_END = re.compile(
    r"^(Returns?|Yields?|Raises?|Examples?|Notes?|See Also|Attributes|References|Warnings?)\s*:?\s*$"
)
_FIELD_LIST = re.compile(r"^:(returns?|rtype|raises?|type)\b")


@dataclass(frozen=True, slots=True)
class ParsedDocstring:
    """A docstring's description (everything before the first section) and parameter texts."""

    description: str
    params: dict[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _collect(lines: list[str], start: int, item: re.Pattern[str]) -> tuple[dict[str, str], int]:
    """Items of one Google or NumPy section: a name line, then more-indented continuation lines."""
    params: dict[str, str] = {}
    base: int | None = None
    current: str | None = None
    i = start
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if _SECTION_END.match(stripped) or (base is not None and _indent(line) < base):
            break
        if base is None:
            base = _indent(line)
        match = item.match(stripped) if _indent(line) == base else None
        if match is not None:
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip() if match.lastindex and match.lastindex > 1 else ""
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
        i += 1
    return params, i


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a docstring into the tool description and the per-parameter descriptions."""
    if not doc:
        return ParsedDocstring("")
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    in_description = True
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        sphinx = _SPHINX_PARAM.match(stripped)
        if _GOOGLE_HEADER.match(stripped):
            found, i = _collect(lines, i + 1, _GOOGLE_ITEM)
            params.update(found)
            in_description = False
            continue
        if stripped in ("Parameters", "Args", "Arguments") and nxt and set(nxt) == {"-"}:
            found, i = _collect(lines, i + 2, _NUMPY_ITEM)
            params.update(found)
            in_description = False
            continue
        if sphinx is not None:
            name, text = sphinx.group(1), [sphinx.group(2).strip()]
            i += 1
            while i < len(lines) and lines[i].startswith((" ", "\t")) and lines[i].strip():
                text.append(lines[i].strip())
                i += 1
            params[name] = " ".join(t for t in text if t)
            in_description = False
            continue
        if _SECTION_END.match(stripped) or _FIELD_LIST.match(stripped) or (nxt and set(nxt) == {"-"}):
            in_description = False
        elif in_description:
            description.append(lines[i])
        i += 1
    return ParsedDocstring("\n".join(description).strip(), params)

"""Values that satisfy a JSON Schema: the tool inputs the simulator invents.

Honoured (draft 2020-12, plus the draft 4–7 spellings where they differ): ``type`` (one or a list),
``enum``, ``const``, ``nullable`` (OpenAPI; the value keeps its non-null type); ``properties``,
``required``, ``additionalProperties``, ``patternProperties``, ``propertyNames``,
``minProperties``, ``maxProperties``, ``dependentRequired`` (and list-valued ``dependencies``);
``items`` (a schema, or a draft-7 list with ``additionalItems``), ``prefixItems``, ``minItems``,
``maxItems``, ``uniqueItems``, ``contains``/``minContains``; ``minimum``, ``maximum``,
``exclusiveMinimum``, ``exclusiveMaximum`` (numbers, or draft-4 booleans), ``multipleOf``;
``minLength``, ``maxLength``, ``pattern``, ``format`` (see ``_strings.FORMATS``); ``allOf``
(merged), ``anyOf`` and ``oneOf`` (one branch chosen, non-null branches preferred), and ``$ref``
within the document (``#``, ``#/$defs/…``, ``#/definitions/…``), recursive ones included: past a
nesting depth of 6 only required members and minimum sizes are generated, so recursion ends; a
schema with no finite instance (a required member that recurses for ever) gets empty arrays at
depth 24.

Not honoured: ``not``, ``if``/``then``/``else``, ``dependentSchemas``, ``unevaluated*``, remote
references, and ``oneOf`` branches that overlap (the chosen branch's value may match another).

Sizes are bounded: ``minItems``, ``minContains`` and ``minProperties`` up to ``MAX_ITEMS``,
``minLength`` up to ``MAX_LENGTH``, and one value holds at most ``MAX_UNITS`` values and string
characters in all (more than the largest ``max_tokens`` can carry). A schema whose smallest instance
is larger raises ``OverflowError`` rather than hang or exhaust memory; the simulator's request
validator refuses such bounds up front.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from claudegate.simulator._json import dumps_lenient
from claudegate.simulator._numbers import integer_in, is_multiple, number_in
from claudegate.simulator._strings import FORMATS, MAX_LENGTH, fit_length, string_for_pattern

__all__ = ["MAX_ITEMS", "MAX_LENGTH", "MAX_UNITS", "SchemaValueGenerator", "value_for_schema"]

MAX_ITEMS = 10_000
MAX_UNITS = 600_000
DEEP = 6
HARD_DEPTH = 24
_MAX_REFS = 64
_FALLBACK_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_SKIPPED = frozenset(
    {"$ref", "allOf", "anyOf", "oneOf", "$defs", "definitions", "$schema", "$id", "$comment", "$anchor"}
    | {"title", "description", "default", "examples", "readOnly", "writeOnly", "deprecated"}
)
_LOWER_BOUNDS = ("minimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def _types(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _least(flat: Mapping[str, Any], key: str, default: int, cap: int) -> int:
    least = int(flat.get(key, default))
    if least > cap:
        raise OverflowError(f"{key} {least} is above the generator's limit of {cap}")
    return least


def _canonical(value: Any) -> bytes:
    def normal(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, list):
            return [normal(element) for element in item]
        if isinstance(item, dict):
            return {key: normal(element) for key, element in item.items()}
        return item

    return dumps_lenient(normal(value), sort_keys=True)


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:  # noqa: C901 - one branch per keyword
    for key, value in part.items():
        if key in _SKIPPED:
            continue
        if key not in into:
            into[key] = copy.copy(value) if isinstance(value, (dict, list)) else value
        elif key == "type":
            ours, theirs = _types(into["type"]), _types(value)
            both = [name for name in ours if name in theirs]
            both += ["integer" for name in ours if name == "number" and "integer" in theirs]
            both += ["integer" for name in theirs if name == "number" and "integer" in ours]
            into["type"] = list(dict.fromkeys(both)) or ["null"]
        elif key in ("properties", "patternProperties") and isinstance(value, Mapping):
            merged = dict(into[key])
            for name, sub in value.items():
                merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
            into[key] = merged
        elif key == "required" and isinstance(value, list):
            into[key] = list(dict.fromkeys([*into[key], *value]))
        elif key in _LOWER_BOUNDS:
            into[key] = max(into[key], value)
        elif key in _UPPER_BOUNDS:
            into[key] = min(into[key], value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(value, bool) or isinstance(into[key], bool):
                into[key] = into[key] or value
            else:
                into[key] = max(into[key], value) if key == "exclusiveMinimum" else min(into[key], value)
        elif key == "multipleOf":
            ours = into[key]
            if isinstance(ours, int) and isinstance(value, int):
                into[key] = math.lcm(ours, value)
            elif not is_multiple(ours, value):
                into[key] = value if is_multiple(value, ours) else ours * value
        elif key == "enum" and isinstance(value, list):
            allowed = {_canonical(item) for item in value}
            into[key] = [item for item in into[key] if _canonical(item) in allowed]
        elif key in ("items", "contains", "propertyNames") and isinstance(value, dict):
            into[key] = {"allOf": [into[key], value]} if isinstance(into[key], dict) else into[key]
        elif key == "additionalProperties":
            if value is False or into[key] is False:
                into[key] = False
            elif isinstance(value, dict):
                into[key] = {"allOf": [into[key], value]} if isinstance(into[key], dict) else value
        elif key == "uniqueItems":
            into[key] = bool(into[key]) or bool(value)
        elif key == "pattern":
            into.setdefault("_patterns", []).append(value)


class SchemaValueGenerator:
    """Invents values for the schemas of one document (``$ref`` resolves against ``root``)."""

    def __init__(self, root: Mapping[str, Any] | bool, rng: random.Random, words: Sequence[str] = ()) -> None:
        self._root = root
        self._rng = rng
        unique = list(dict.fromkeys(word for word in words if word))[:64]
        # Few words cannot fill arrays of unique strings; the fixed vocabulary tops them up.
        self._words: Sequence[str] = unique if len(unique) >= 8 else unique + list(_FALLBACK_WORDS)
        self._units = 0

    def _spend(self, units: int) -> None:
        self._units += units
        if self._units > MAX_UNITS:
            raise OverflowError(f"the schema's smallest instance holds more than {MAX_UNITS} values")

    def generate(self) -> Any:
        """A value valid against the root schema."""
        return self.value(self._root, 0)

    def value(self, schema: Any, depth: int) -> Any:
        """A value valid against ``schema`` (a part of the root document), at a nesting depth."""
        self._spend(1)
        flat = self._flatten(schema, depth)
        if flat is None:
            return None
        if "const" in flat:
            return copy.deepcopy(flat["const"])
        enum = flat.get("enum")
        if isinstance(enum, list):
            return copy.deepcopy(self._rng.choice(enum)) if enum else None
        kind = self._pick_type(flat)
        if kind == "object":
            return self._object(flat, depth)
        if kind == "array":
            return self._array(flat, depth)
        if kind == "integer":
            return integer_in(flat, self._rng)
        if kind == "number":
            return number_in(flat, self._rng)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(flat)

    # -- structure -------------------------------------------------------------------------------

    def _resolve(self, ref: str) -> Any:
        if ref == "#":
            return self._root
        if not ref.startswith("#/"):
            return None
        node: Any = self._root
        for raw in ref[2:].split("/"):
            key = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node

    def _flatten(self, schema: Any, depth: int) -> dict[str, Any] | None:
        """The schema without ``$ref``, ``allOf``, ``anyOf``, ``oneOf``: refs resolved, branches chosen."""
        result: dict[str, Any] = {}
        queue: list[Any] = [schema]
        refs = 0
        while queue:
            part = queue.pop(0)
            if part is False:
                return None
            if not isinstance(part, Mapping):
                continue
            ref = part.get("$ref")
            if isinstance(ref, str) and refs < _MAX_REFS:
                refs += 1
                queue[:0] = [self._resolve(ref), {key: value for key, value in part.items() if key != "$ref"}]
                continue
            all_of = part.get("allOf")
            if isinstance(all_of, list):
                queue.extend(all_of)
            for key in ("anyOf", "oneOf"):
                branches = part.get(key)
                if isinstance(branches, list) and branches:
                    queue.append(self._choose(branches, depth))
            _merge(result, part)
        return result

    def _choose(self, branches: list[Any], depth: int) -> Any:
        candidates = [branch for branch in branches if branch is not False]
        if not candidates:
            return False
        if depth >= DEEP:
            plain = [branch for branch in candidates if b"$ref" not in dumps_lenient(branch)]
            candidates = plain or candidates
        filled = [
            branch
            for branch in candidates
            if not (isinstance(branch, Mapping) and branch.get("type") == "null")
        ]
        return self._rng.choice(filled or candidates)

    def _pick_type(self, flat: Mapping[str, Any]) -> str:
        declared = _types(flat.get("type"))
        if declared:
            filled = [name for name in declared if name != "null"]
            return self._rng.choice(filled) if filled else "null"
        if any(key in flat for key in ("properties", "required", "additionalProperties", "minProperties")):
            return "object"
        if any(key in flat for key in ("items", "prefixItems", "minItems", "maxItems", "contains")):
            return "array"
        if any(
            key in flat
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        ):
            return "number"
        return "string"

    def _object(self, flat: Mapping[str, Any], depth: int) -> dict[str, Any]:  # noqa: C901 - keyword by keyword
        properties: Mapping[str, Any] = flat.get("properties") or {}
        patterns: Mapping[str, Any] = flat.get("patternProperties") or {}
        additional = flat.get("additionalProperties", True)
        least = _least(flat, "minProperties", 0, MAX_ITEMS)
        most = flat.get("maxProperties")
        depends: dict[str, list[str]] = {}
        for key in ("dependentRequired", "dependencies"):
            for name, needed in (flat.get(key) or {}).items():
                if isinstance(needed, list):
                    depends.setdefault(name, []).extend(item for item in needed if isinstance(item, str))
        required = [name for name in flat.get("required", []) if isinstance(name, str)]
        chosen: list[str] = []
        optional = [name for name in properties if name not in required]

        def add(name: str) -> None:
            pending = [name]
            while pending:
                item = pending.pop()
                if item not in chosen:
                    chosen.append(item)
                    pending.extend(depends.get(item, ()))

        for name in required:
            add(name)
        if depth < DEEP:
            for name in optional:
                if self._rng.random() < 0.6 and (most is None or len(chosen) < most):
                    add(name)
        for name in optional:
            if len(chosen) >= least:
                break
            add(name)
        extra = 0
        while len(chosen) < least and extra < least + 8 and (additional is not False or patterns):
            name = self._property_name(flat, patterns, extra)
            extra += 1
            if name not in chosen and name not in properties:
                chosen.append(name)
        result: dict[str, Any] = {}
        for name in chosen:
            parts = [properties[name]] if name in properties else []
            parts += [sub for pattern, sub in patterns.items() if re.search(pattern, name)]
            if not parts:
                parts = [additional if isinstance(additional, Mapping) else {}]
            result[name] = self.value(parts[0] if len(parts) == 1 else {"allOf": parts}, depth + 1)
        return result

    def _property_name(self, flat: Mapping[str, Any], patterns: Mapping[str, Any], index: int) -> str:
        if patterns and flat.get("additionalProperties", True) is False:
            made = string_for_pattern(self._rng.choice(list(patterns)), self._rng)
            if made is not None:
                return made
        names = flat.get("propertyNames")
        if isinstance(names, Mapping):
            made_name = self.value({"allOf": [names, {"type": "string"}]}, DEEP)
            if isinstance(made_name, str):
                return made_name
        return f"{self._word()}_{index}"

    def _array(self, flat: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = flat.get("prefixItems")
        items = flat.get("items")
        if isinstance(items, list):
            prefix, items = items, flat.get("additionalItems", True)
        prefix = prefix if isinstance(prefix, list) else []
        least = _least(flat, "minItems", 0, MAX_ITEMS)
        most = flat.get("maxItems")
        if items is False:
            most = len(prefix) if most is None else min(most, len(prefix))
        contains = flat.get("contains")
        needed = _least(flat, "minContains", 1, MAX_ITEMS) if contains is not None else 0
        least = max(least, needed)
        if depth >= HARD_DEPTH:
            count = 0
        elif depth >= DEEP:
            count = least
        else:
            upper = least + 3 if most is None else min(int(most), least + 3)
            count = self._rng.randint(min(max(least, 1), upper), upper) if upper >= least else least
        unique = flat.get("uniqueItems") is True
        seen: set[bytes] = set()
        values: list[Any] = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else (items if isinstance(items, Mapping) else {})
            if index < needed:
                sub = {"allOf": [sub, contains]}
            value = self.value(sub, depth + 1)
            if unique:
                key = _canonical(value)
                for _ in range(16):
                    if key not in seen:
                        break
                    value = self.value(sub, depth + 1)
                    key = _canonical(value)
                if key in seen:
                    if len(values) >= least:
                        break
                    continue
                seen.add(key)
            values.append(value)
        return values

    # -- scalars ---------------------------------------------------------------------------------

    def _word(self) -> str:
        return self._rng.choice(self._words)

    def _string(self, flat: Mapping[str, Any]) -> str:
        text = self._text(flat)
        self._spend(len(text))
        return text

    def _text(self, flat: Mapping[str, Any]) -> str:
        least = _least(flat, "minLength", 0, MAX_LENGTH)
        most = flat.get("maxLength")
        patterns = [p for p in [flat.get("pattern"), *flat.get("_patterns", ())] if isinstance(p, str)]

        def fits(text: str) -> bool:
            return len(text) >= least and (most is None or len(text) <= most)

        if patterns:
            for _ in range(24):
                made = string_for_pattern(patterns[0], self._rng)
                if made is not None and fits(made) and all(re.search(p, made) for p in patterns):
                    return made
        maker = FORMATS.get(str(flat.get("format")))
        if maker is not None:
            for _ in range(8):
                made = maker(self._rng, self._word())
                if fits(made):
                    return made
        phrase = " ".join(self._word() for _ in range(self._rng.randint(1, 3)))
        return fit_length(phrase, least, None if most is None else int(most))


def value_for_schema(
    schema: Mapping[str, Any] | bool,
    *,
    seed: int = 0,
    words: Sequence[str] = (),
    rng: random.Random | None = None,
) -> Any:
    """A value that satisfies ``schema``, chosen by ``seed`` (or ``rng``); strings drawn from ``words``.

    >>> value_for_schema({"type": "integer", "minimum": 3, "maximum": 3})
    3
    """
    generator = SchemaValueGenerator(schema, rng if rng is not None else random.Random(seed), words)
    return generator.generate()

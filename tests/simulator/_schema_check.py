"""An independent JSON Schema checker for the keywords the tool-input generator claims to honour.

Written from the JSON Schema specification (draft 2020-12 with the draft-4..7 spellings), separately
from the generator, so the property tests do not grade the generator with its own logic. It
follows the reference validators on the details: ``1.0`` is an integer, ``true`` is not a
number, ``1 == 1.0`` for enum/const/uniqueness, float ``multipleOf`` needs an exact quotient,
``pattern`` is searched (not anchored), ``nullable`` is not a keyword.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import unquote

_FORMATS: dict[str, Any] = {
    "date": lambda s: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)) and date.fromisoformat(s) is not None,
    "time": lambda s: bool(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]\d{2}:\d{2})", s)),
    "date-time": lambda s: bool(
        re.fullmatch(r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]\d{2}:\d{2})", s)
    ),
    "email": lambda s: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s)),
    "idn-email": lambda s: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s)),
    "hostname": lambda s: bool(
        re.fullmatch(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?", s)
    ),
    "idn-hostname": lambda s: bool(re.fullmatch(r"[^\s.]+(\.[^\s.]+)*", s)),
    "ipv4": lambda s: isinstance(ipaddress.ip_address(s), ipaddress.IPv4Address),
    "ipv6": lambda s: isinstance(ipaddress.ip_address(s), ipaddress.IPv6Address),
    "uri": lambda s: bool(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*", s)),
    "url": lambda s: bool(re.fullmatch(r"https?://[^\s]+", s)),
    "iri": lambda s: bool(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*", s)),
    "uri-reference": lambda s: " " not in s,
    "iri-reference": lambda s: " " not in s,
    "uuid": lambda s: str(uuid.UUID(s)) == s,
    "duration": lambda s: bool(re.fullmatch(r"P(\d+[YMWD])+(T(\d+[HMS])+)?", s)),
    "json-pointer": lambda s: s == "" or s.startswith("/"),
    "regex": lambda s: re.compile(s) is not None,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_ok(value: Any, name: str) -> bool:
    return {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "number": _is_number(value),
        "integer": _is_number(value) and float(value).is_integer(),
    }.get(name, False)


def equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (``1 == 1.0``) but booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and bool(a == b)


class Checker:
    """Collects every violation of ``root`` by an instance."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        node = self.root
        if ref == "#":
            return node
        for raw in ref[2:].split("/"):
            node = node[unquote(raw).replace("~1", "/").replace("~0", "~")]
        return node

    def check(self, value: Any, schema: Any, path: str = "$") -> list[str]:
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: false schema"]
        errors: list[str] = []
        errors += self._combined(value, schema, path)
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
            if not any(_type_ok(value, name) for name in names):
                errors.append(f"{path}: {value!r} is not of type {names}")
        if "enum" in schema and not any(equal(value, item) for item in schema["enum"]):
            errors.append(f"{path}: {value!r} not in enum")
        if "const" in schema and not equal(value, schema["const"]):
            errors.append(f"{path}: {value!r} is not the const")
        if _is_number(value):
            errors += self._number(value, schema, path)
        elif isinstance(value, str):
            errors += self._string(value, schema, path)
        elif isinstance(value, list):
            errors += self._array(value, schema, path)
        elif isinstance(value, dict):
            errors += self._object(value, schema, path)
        return errors

    def _combined(self, value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
        errors: list[str] = []
        if "$ref" in schema:
            errors += self.check(value, self.resolve(schema["$ref"]), path)
        for sub in schema.get("allOf", ()):
            errors += self.check(value, sub, path)
        if "anyOf" in schema and not any(not self.check(value, sub, path) for sub in schema["anyOf"]):
            errors.append(f"{path}: matches no anyOf branch")
        if "oneOf" in schema:
            matched = sum(1 for sub in schema["oneOf"] if not self.check(value, sub, path))
            if matched != 1:
                errors.append(f"{path}: matches {matched} oneOf branches")
        return errors

    def _number(self, value: float, schema: Mapping[str, Any], path: str) -> list[str]:
        errors = []
        low, high = schema.get("minimum"), schema.get("maximum")
        exclusive_low: Any = schema.get("exclusiveMinimum")
        exclusive_high: Any = schema.get("exclusiveMaximum")
        if low is not None and (value <= low if exclusive_low is True else value < low):
            errors.append(f"{path}: {value} below minimum {low}")
        if high is not None and (value >= high if exclusive_high is True else value > high):
            errors.append(f"{path}: {value} above maximum {high}")
        if _is_number(exclusive_low) and value <= exclusive_low:
            errors.append(f"{path}: {value} not above {exclusive_low}")
        if _is_number(exclusive_high) and value >= exclusive_high:
            errors.append(f"{path}: {value} not below {exclusive_high}")
        step = schema.get("multipleOf")
        if step is not None:
            if isinstance(step, float):
                quotient = value / step
                failed = int(quotient) != quotient
            else:
                failed = bool(value % step)
            if failed:
                errors.append(f"{path}: {value} is not a multiple of {step}")
        return errors

    def _string(self, value: str, schema: Mapping[str, Any], path: str) -> list[str]:
        errors = []
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: {value!r} shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: {value!r} longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        checker = _FORMATS.get(schema.get("format", ""))
        if checker is not None:
            try:
                valid = checker(value)
            except ValueError:
                valid = False
            if not valid:
                errors.append(f"{path}: {value!r} is not a {schema['format']}")
        return errors

    def _array(self, value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
        errors = []
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        prefix = schema.get("prefixItems", [])
        items = schema.get("items")
        if isinstance(items, list):
            prefix, items = items, schema.get("additionalItems")
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else items
            if sub is not None:
                errors += self.check(item, sub, f"{path}[{index}]")
        if schema.get("uniqueItems") is True:
            for first in range(len(value)):
                for second in range(first + 1, len(value)):
                    if equal(value[first], value[second]):
                        errors.append(f"{path}: items {first} and {second} are equal")
        if "contains" in schema:
            found = sum(1 for item in value if not self.check(item, schema["contains"], path))
            if found < schema.get("minContains", 1):
                errors.append(f"{path}: too few items match contains")
        return errors

    def _object(self, value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
        errors = []
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        errors += [f"{path}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        if len(value) < schema.get("minProperties", 0):
            errors.append(f"{path}: fewer than {schema['minProperties']} properties")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(f"{path}: more than {schema['maxProperties']} properties")
        for name, needed in schema.get("dependentRequired", {}).items():
            if name in value:
                errors += [f"{path}: {name!r} needs {other!r}" for other in needed if other not in value]
        for name, item in value.items():
            matched = False
            if name in properties:
                matched = True
                errors += self.check(item, properties[name], f"{path}.{name}")
            for pattern, sub in patterns.items():
                if re.search(pattern, name):
                    matched = True
                    errors += self.check(item, sub, f"{path}.{name}")
            if not matched and "additionalProperties" in schema:
                errors += self.check(item, schema["additionalProperties"], f"{path}.{name}")
            if "propertyNames" in schema:
                errors += self.check(name, schema["propertyNames"], f"{path}.<{name}>")
        return errors


def violations(value: Any, schema: Any) -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it is valid)."""
    return Checker(schema).check(value, schema)

"""``GET /docs/api``: the gateway's ``/openapi.json`` rendered as a readable HTML reference.

Rendered on the server (Jinja2, autoescaped) from the same document ``/openapi.json`` serves: every
operation with its method, path, summary, parameters, request body and answers (schemas folded in
``<details>``, references linked to the schema's entry), the error envelopes, and every schema. The
page needs nothing from anywhere: no script, no font, no stylesheet but its own inline one, which
its ``Content-Security-Policy`` admits by hash (``default-src 'none'``). Rendered on first use and
kept, as bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
import orjson
from markupsafe import Markup, escape

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore
from claudegate.gateway.surfaces._openapi_parts import REFS
from claudegate.gateway.surfaces.openapi import document

__all__ = [
    "PATH",
    "ContentView",
    "FieldView",
    "GroupView",
    "OperationView",
    "ParameterView",
    "ResponseView",
    "SchemaView",
    "groups",
    "page",
    "reference",
    "schema_view",
]

PATH = "/docs/api"
_HTML = (b"content-type", b"text/html; charset=utf-8")
_MAX_DEPTH = 12
"""Inline schemas nest this deep at most (references are links, so cycles never recurse)."""
_SHOWN = frozenset(
    {"$ref", "type", "const", "enum", "description", "properties", "required", "additionalProperties"}
    | {"items", "oneOf", "anyOf", "allOf", "title", "discriminator"}
)
"""Keywords drawn as structure; any other one is listed as a note (``minimum: 0``)."""
_ERROR_ENVELOPES = ("ErrorResponse", "OpenAIErrorResponse")


@dataclass(frozen=True, slots=True)
class SchemaView:
    """A schema as the page draws it: a label (a type, or the referenced schema's name), notes
    (constraints, defaults), and what it is made of (fields, variants, items)."""

    label: str
    ref: str | None = None
    description: str = ""
    notes: tuple[str, ...] = ()
    fields: tuple[FieldView, ...] = ()
    variants: tuple[SchemaView, ...] = ()
    """The members of a ``oneOf``, ``anyOf`` or ``allOf`` (the label says which)."""
    items: SchemaView | None = None
    others: SchemaView | None = None
    """The schema of fields not listed (``additionalProperties``), when it gives one."""

    @property
    def simple(self) -> bool:
        """Drawn on one line: no fields or variants to fold (an array of something drawn on one
        line is drawn so too)."""
        return not (self.fields or self.variants or self.others) and (self.items is None or self.items.simple)


@dataclass(frozen=True, slots=True)
class FieldView:
    name: str
    required: bool
    schema: SchemaView


@dataclass(frozen=True, slots=True)
class ParameterView:
    name: str
    location: str
    required: bool
    description: str
    schema: SchemaView


@dataclass(frozen=True, slots=True)
class ContentView:
    media_type: str
    schema: SchemaView


@dataclass(frozen=True, slots=True)
class ResponseView:
    status: str
    description: str
    contents: tuple[ContentView, ...]


@dataclass(frozen=True, slots=True)
class OperationView:
    method: str
    path: str
    anchor: str
    summary: str
    open: bool
    """Served without a key (``security: []``)."""
    parameters: tuple[ParameterView, ...]
    body: tuple[ContentView, ...]
    responses: tuple[ResponseView, ...]


@dataclass(slots=True)
class GroupView:
    """The operations under one path prefix (``/v1/messages``, ``/health``)."""

    name: str
    anchor: str
    operations: list[OperationView] = field(default_factory=list)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts)


def _notes(schema: dict[str, Any]) -> tuple[str, ...]:
    notes = []
    if "enum" in schema:
        notes.append("one of " + ", ".join(_json(value) for value in schema["enum"]))
    if schema.get("additionalProperties") is False and "properties" in schema:
        notes.append("no other fields")
    for key, value in schema.items():
        if key not in _SHOWN:
            notes.append(f"{key}: {value if isinstance(value, str) else _json(value)}")
    return tuple(notes)


def _label(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return _json(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(item) for item in kind)
    if isinstance(kind, str):
        return kind
    if "enum" in schema:
        return "enum"
    for key, label in (("oneOf", "one of"), ("anyOf", "any of"), ("allOf", "all of")):
        if key in schema:
            return label
    if "properties" in schema:
        return "object"
    return "any"


def schema_view(schema: Any, depth: int = 0) -> SchemaView:
    """How the page draws ``schema`` (a JSON Schema of the document)."""
    if schema is True or not isinstance(schema, dict):
        return SchemaView("any")
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith(REFS):
        name = reference[len(REFS) :]
        return SchemaView(name, ref=name, description=str(schema.get("description", "")))
    if depth >= _MAX_DEPTH:
        return SchemaView(_label(schema), notes=("nested too deep to draw: see /openapi.json",))
    required = set(schema.get("required", ()))
    properties = schema.get("properties")
    fields = tuple(
        FieldView(name, name in required, schema_view(value, depth + 1))
        for name, value in (properties.items() if isinstance(properties, dict) else ())
    )
    variants: tuple[SchemaView, ...] = ()
    for key in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(key), list):
            variants = tuple(schema_view(item, depth + 1) for item in schema[key])
            break
    items = schema.get("items")
    others = schema.get("additionalProperties")
    return SchemaView(
        _label(schema),
        description=str(schema.get("description", "")),
        notes=_notes(schema),
        fields=fields,
        variants=variants,
        items=schema_view(items, depth + 1) if isinstance(items, dict) else None,
        others=schema_view(others, depth + 1) if isinstance(others, dict) and others else None,
    )


def _contents(content: dict[str, Any] | None) -> tuple[ContentView, ...]:
    return tuple(
        ContentView(media_type, schema_view(entry.get("schema", {})))
        for media_type, entry in (content or {}).items()
    )


def _operation(method: str, path: str, operation: dict[str, Any]) -> OperationView:
    parameters = tuple(
        ParameterView(
            str(parameter["name"]),
            str(parameter["in"]),
            bool(parameter.get("required", False)),
            str(parameter.get("description", "")),
            schema_view(parameter.get("schema", {})),
        )
        for parameter in operation.get("parameters", ())
    )
    body = operation.get("requestBody")
    responses = tuple(
        ResponseView(str(status), str(answer.get("description", "")), _contents(answer.get("content")))
        for status, answer in operation["responses"].items()
    )
    return OperationView(
        method=method.upper(),
        path=path,
        anchor=_anchor(method, path),
        summary=str(operation.get("summary", "")),
        open=operation.get("security") == [],
        parameters=parameters,
        body=_contents(body.get("content")) if isinstance(body, dict) else (),
        responses=responses,
    )


def _group_name(path: str) -> str:
    segments = path.strip("/").split("/")
    if segments[0] == "v1" and len(segments) > 1:
        return "/v1/" + segments[1]
    return "/" + segments[0]


def groups(openapi: dict[str, Any]) -> list[GroupView]:
    """The document's operations, grouped by path prefix in the document's order."""
    found: dict[str, GroupView] = {}
    for path, item in openapi["paths"].items():
        name = _group_name(path)
        group = found.get(name)
        if group is None:
            group = found[name] = GroupView(name, _anchor("group", name))
        group.operations.extend(_operation(method, path, operation) for method, operation in item.items())
    return list(found.values())


_CODE = re.compile(r"``(.+?)``|`([^`]+)`", re.DOTALL)


def _inline_code(text: str) -> Markup:
    """``text`` escaped, with its `backticked` (or ``double-backticked``) spans as ``<code>``."""
    escaped = str(escape(text))
    return Markup(_CODE.sub(lambda match: f"<code>{match.group(1) or match.group(2)}</code>", escaped))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("claudegate.gateway.surfaces", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["inline_code"] = _inline_code
    return environment


@cache
def page() -> tuple[bytes, str]:
    """The page, and the ``Content-Security-Policy`` that lets its own style (and nothing else) in."""
    openapi = document()
    css = files("claudegate.gateway.surfaces").joinpath("templates/reference.css").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    schemas = openapi["components"]["schemas"]
    html = (
        _environment()
        .get_template("reference.html")
        .render(
            info=openapi["info"],
            version=openapi["openapi"],
            groups=groups(openapi),
            schemas=[(name, schema_view(schema)) for name, schema in sorted(schemas.items())],
            envelopes=[(name, schema_view(schemas[name])) for name in _ERROR_ENVELOPES if name in schemas],
            css=Markup(css),  # the stylesheet as written: its hash is in the policy
        )
    )
    policy = (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html.encode(), policy


async def reference(core: GatewayCore, exchange: Exchange) -> None:
    """Answer ``GET /docs/api`` with ``page()``."""
    body, policy = page()
    extra = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    await exchange.send_bytes(200, body, _HTML, extra)

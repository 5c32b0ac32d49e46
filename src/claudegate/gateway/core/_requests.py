"""Checks every surface applies to a request body before it becomes a call: a JSON object, with
the fields the call needs, each 400 naming the field."""

from __future__ import annotations

from typing import Any

import orjson

from claudegate._json import JSONDepthError, loads_bounded
from claudegate.gateway.core._errors import GatewayError

__all__ = ["parse_json_body", "require"]


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong."""
    if not raw:
        raise GatewayError(400, "invalid_request_error", "the request body is empty; send a JSON object")
    try:
        body = loads_bounded(raw)
    except JSONDepthError as exc:
        raise GatewayError(400, "invalid_request_error", str(exc)) from None
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, "invalid_request_error", f"the request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "invalid_request_error", "the request body must be a JSON object")
    return body


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``body[name]`` when it is of ``kind``; else a 400 naming the field."""
    value = body.get(name)
    if value is None:
        raise GatewayError(400, "invalid_request_error", f"{name}: field required", name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise GatewayError(400, "invalid_request_error", f"{name}: must be {what}", name)
    return value

"""What every handler of one gateway shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from claudegate.client import AsyncTransport
from claudegate.gateway._config import GatewayConfig
from claudegate.gateway._errors import GatewayError
from claudegate.gateway._metrics import Metrics
from claudegate.gateway._router import Route, Router

__all__ = ["GatewayState", "parse_json_body", "require"]


@dataclass(slots=True)
class GatewayState:
    """Configuration, routes, metrics and the shared upstream transport."""

    config: GatewayConfig
    router: Router
    transport: AsyncTransport
    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False

    def route(self, model: str) -> Route:
        route = self.router.resolve(model)
        if route is None:
            raise GatewayError(
                404, "not_found_error", f"model: {model!r} is not served by this gateway", "model"
            )
        return route


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong."""
    if not raw:
        raise GatewayError(400, "invalid_request_error", "the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
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

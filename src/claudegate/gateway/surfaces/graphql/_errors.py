"""GraphQL errors with ``extensions.code``, mapped from the gateway's own errors; never a trace.

401 → UNAUTHENTICATED        403 → FORBIDDEN              404 → NOT_FOUND
429 → RATE_LIMITED (+ retryAfter seconds), or BUDGET_EXCEEDED for a spent budget
other 4xx → BAD_USER_INPUT (+ field when known)
an upstream's failure (5xx, 529, its own 401/403) → UPSTREAM_ERROR (+ status, type)
the limits: DEPTH_LIMIT_EXCEEDED, ALIAS_LIMIT_EXCEEDED, TOKEN_LIMIT_EXCEEDED,
COST_LIMIT_EXCEEDED (+ cost, maxCost); a bad document: GRAPHQL_PARSE_FAILED,
GRAPHQL_VALIDATION_FAILED; a gateway bug: INTERNAL_SERVER_ERROR (logged here, not shown)
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError
from strawberry.schema.exceptions import InvalidOperationTypeError

from claudegate.errors import ClaudegateError
from claudegate.gateway.core import GatewayError, classify
from claudegate.translate import TranslationError

__all__ = ["coded_error", "gateway_extensions"]

log = logging.getLogger("claudegate.gateway")

_LIMIT_MESSAGES = (
    (re.compile(r"exceeds maximum operation depth"), "DEPTH_LIMIT_EXCEEDED"),
    (re.compile(r"aliases found\. Allowed"), "ALIAS_LIMIT_EXCEEDED"),
    (re.compile(r"more than \d+ tokens"), "TOKEN_LIMIT_EXCEEDED"),
    (re.compile(r"^Syntax Error"), "GRAPHQL_PARSE_FAILED"),
    (re.compile(r"^Variable '\$"), "BAD_USER_INPUT"),
)


def _retry_after(error: GatewayError) -> int | None:
    value = error.headers.get("retry-after")
    return int(value) if value is not None and value.isdigit() else None


def gateway_extensions(error: GatewayError) -> dict[str, Any]:
    """The ``extensions`` of a GraphQL error standing for ``error``."""
    status = error.status
    extensions: dict[str, Any] = {"status": status, "type": error.error_type}
    if (error.upstream is not None and status in (401, 403)) or status >= 500:
        extensions["code"] = "UPSTREAM_ERROR"
    elif status == 401:
        extensions["code"] = "UNAUTHENTICATED"
    elif status == 403:
        extensions["code"] = "FORBIDDEN"
    elif status == 404:
        extensions["code"] = "NOT_FOUND"
    elif status == 429:
        budget = error.message.startswith("budget exhausted")
        extensions["code"] = "BUDGET_EXCEEDED" if budget else "RATE_LIMITED"
        retry = _retry_after(error)
        if retry is not None:
            extensions["retryAfter"] = retry
    else:
        extensions["code"] = "BAD_USER_INPUT"
        if error.param is not None:
            extensions["field"] = error.param
    return extensions


def _gateway_error(original: BaseException) -> GatewayError | None:
    if isinstance(original, GatewayError | ClaudegateError | TranslationError):
        return classify(original)
    return None


def coded_error(error: GraphQLError) -> GraphQLError:
    """``error`` with its ``extensions.code`` (and the gateway's message for a gateway error)."""
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    extensions: dict[str, Any]
    if original is None or isinstance(original, GraphQLError):
        code = next((c for pattern, c in _LIMIT_MESSAGES if pattern.search(error.message)), None)
        message, extensions = error.message, {"code": code or "GRAPHQL_VALIDATION_FAILED"}
        if isinstance(original, GraphQLError) and original.extensions:
            extensions = {**original.extensions, **extensions}
    else:
        gateway = _gateway_error(original)
        if isinstance(original, InvalidOperationTypeError):
            message = f"{original.operation_type.value} operations are not served over this transport"
            extensions = {"code": "OPERATION_NOT_ALLOWED"}
        elif gateway is not None:
            message, extensions = gateway.message, gateway_extensions(gateway)
        else:
            log.error("a GraphQL resolver failed inside the gateway", exc_info=original)
            message, extensions = "internal error in the gateway", {"code": "INTERNAL_SERVER_ERROR"}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )

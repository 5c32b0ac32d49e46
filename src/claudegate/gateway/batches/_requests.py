"""What a batch is asked to run, checked before anything is written: a Message Batch's
``requests`` (each a non-streamed Messages request), an OpenAI batch's input file (one JSON
request per line), the optional ``webhook``. Each 400 names the offending field or line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from claudegate.client import validate_message_request
from claudegate.errors import UserError
from claudegate.gateway.core import GatewayError, shown

__all__ = ["InputLine", "LineError", "message_requests", "openai_input", "webhook_url"]

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_ENDPOINTS = ("/v1/chat/completions",)
_OPENAI_CUSTOM_ID_MAX = 200


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, param)


def message_requests(body: dict[str, Any], max_requests: int) -> list[tuple[str, dict[str, Any]]]:
    """``(custom_id, params)`` of each request of a ``POST /v1/messages/batches`` body."""
    unknown = sorted(set(body) - {"requests", "webhook"})
    if unknown:
        raise _bad(f"{shown(unknown[0])}: Extra inputs are not permitted", unknown[0])
    requests = body.get("requests")
    if requests is None:
        raise _bad("requests: Field required", "requests")
    if not isinstance(requests, list) or not requests:
        raise _bad("requests: List should have at least 1 item", "requests")
    if len(requests) > max_requests:
        raise _bad(f"requests: List should have at most {max_requests} items", "requests")
    accepted: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, item in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(item, dict):
            raise _bad(f"{where}: Input should be a valid dictionary", where)
        extra = sorted(set(item) - {"custom_id", "params"})
        if extra:
            raise _bad(f"{where}.{shown(extra[0])}: Extra inputs are not permitted", f"{where}.{extra[0]}")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise _bad(
                f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
                f"{where}.custom_id",
            )
        if custom_id in seen:
            raise _bad(
                f"{where}.custom_id: duplicate custom_id {custom_id!r}; each must be unique",
                f"{where}.custom_id",
            )
        seen.add(custom_id)
        params = item.get("params")
        if not isinstance(params, dict):
            raise _bad(f"{where}.params: Field required (a Messages request)", f"{where}.params")
        if params.get("stream") is True:
            raise _bad(f"{where}.params.stream: batch requests cannot stream", f"{where}.params.stream")
        try:
            validate_message_request(params)
        except UserError as exc:
            field = f"{where}.params.{exc.field}"
            raise _bad(f"{field}: {exc.message.split(': ', 1)[-1]}", field) from None
        accepted.append((custom_id, params))
    return accepted


def webhook_url(value: Any) -> str | None:
    """The ``webhook`` field (``{"url": …}``) of a batch, checked."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("webhook: must be an object with a url", "webhook")
    unknown = sorted(set(value) - {"url"})
    if unknown:
        raise _bad(f"webhook.{shown(unknown[0])}: unknown field", f"webhook.{unknown[0]}")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise _bad("webhook.url: must be an http(s) URL of at most 2048 characters", "webhook.url")
    return url


@dataclass(frozen=True, slots=True)
class InputLine:
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of an input file the batch cannot run (OpenAI's ``errors.data[]`` entry)."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None

    def json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "line": self.line, "param": self.param}


def _line(number: int, raw: bytes, endpoint: str) -> InputLine | LineError:
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return LineError("invalid_json_line", "This line is not parseable as valid JSON.", number)
    if not isinstance(item, dict):
        return LineError("invalid_request", "Each line must be a JSON object.", number)
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > _OPENAI_CUSTOM_ID_MAX:
        return LineError(
            "missing_required_parameter", "custom_id: a non-empty string is required.", number, "custom_id"
        )
    if item.get("method") != "POST":
        return LineError("invalid_method", "method: only POST is supported.", number, "method")
    if item.get("url") != endpoint:
        return LineError(
            "mismatched_endpoint", f"url: must be the batch's endpoint {endpoint}.", number, "url"
        )
    body = item.get("body")
    if not isinstance(body, dict):
        return LineError("missing_required_parameter", "body: the request is required.", number, "body")
    for name, kind in (("model", str), ("messages", list)):
        if not isinstance(body.get(name), kind) or not body.get(name):
            return LineError("missing_required_parameter", f"body.{name}: required.", number, f"body.{name}")
    if body.get("stream") is True:
        return LineError(
            "invalid_request", "body.stream: batch requests cannot stream.", number, "body.stream"
        )
    return InputLine(custom_id, body)


def openai_input(content: bytes, endpoint: str, max_requests: int) -> tuple[list[InputLine], list[LineError]]:
    """The requests of an OpenAI batch input file, or what is wrong with its lines (line numbers
    from 1; blank lines skipped)."""
    lines: list[InputLine] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed = _line(number, raw, endpoint)
        if isinstance(parsed, LineError):
            errors.append(parsed)
        elif parsed.custom_id in seen:
            errors.append(
                LineError(
                    "duplicate_custom_id",
                    f"custom_id {parsed.custom_id!r} is used twice.",
                    number,
                    "custom_id",
                )
            )
        else:
            seen.add(parsed.custom_id)
            lines.append(parsed)
        if len(errors) >= 100:
            break
    if not lines and not errors:
        errors.append(LineError("empty_file", "The input file has no requests."))
    if len(lines) > max_requests:
        errors.append(LineError("too_many_requests", f"At most {max_requests} requests per batch."))
    return lines, errors

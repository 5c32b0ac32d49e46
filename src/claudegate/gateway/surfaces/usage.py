"""The usage API: ``GET /v1/usage`` (the caller's own usage: a key's, or a JWT subject's) and
``GET /admin/usage`` (every caller's, with the admin key; ``key_id`` narrows it to one).

Query parameters: ``group_by`` (comma-separated or repeated: ``key``, ``model``, ``deployment``,
``surface`` — alias ``dialect`` —, ``status``), ``bucket`` (``minute``, ``hour``, ``day``), ``from``
and ``to`` (RFC 3339 with a zone, or unix seconds; ``[from, to)``). Totals come from the ledger's
rollups (see ``claudegate.store._usage_query``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson

from claudegate.errors import UserError
from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, shown

if TYPE_CHECKING:
    from claudegate.store import Database

__all__ = ["ADMIN_USAGE_PATH", "USAGE_PATH", "admin_usage", "own_usage"]

USAGE_PATH = "/v1/usage"
ADMIN_USAGE_PATH = "/admin/usage"

_ALIASES = {"dialect": "surface"}
_PARAMETERS = {"group_by", "bucket", "from", "to"}
_UNIX = re.compile(r"^-?\d{1,12}(\.\d{1,6})?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bad(parameter: str, message: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", f"{parameter}: {message}", parameter)


def _time(parameter: str, text: str) -> datetime:
    """RFC 3339 with a zone, or unix seconds, as a UTC time."""
    if _UNIX.match(text):
        try:
            return _EPOCH + timedelta(microseconds=round(float(text) * 1_000_000))
        except OverflowError:
            raise _bad(parameter, "out of range (years 1 to 9999)") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or ("T" not in text.upper() and " " not in text):
        raise _bad(parameter, f"not an RFC 3339 time or unix seconds: {shown(text, 40)!r}")
    if moment.tzinfo is None:
        raise _bad(parameter, "needs a time zone (e.g. 2026-03-01T00:00:00Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _bad(parameter, "out of range (years 1 to 9999)") from None


def _parameters(exchange: Exchange, allowed: set[str]) -> dict[str, list[str]]:
    found = parse_qs(exchange.query, keep_blank_values=True)
    for name in found:
        if name not in allowed:
            raise _bad(shown(name, 40), f"unknown parameter; use {', '.join(sorted(allowed))}")
    for name, values in found.items():
        if name != "group_by" and len(values) > 1:
            raise _bad(name, "given more than once")
    return found


async def _answer(
    exchange: Exchange, database: Database | None, found: dict[str, list[str]], key_id: str | None
) -> None:
    from claudegate.store._usage_query import usage_summary

    # A caller with a key or token, and the admin key, both mean the ledger's database is open.
    assert database is not None
    group_by = [
        _ALIASES.get(name.strip(), name.strip())
        for value in found.get("group_by", [])
        for name in value.split(",")
        if name.strip()
    ]
    bucket = found["bucket"][0] if "bucket" in found else None
    start = _time("from", found["from"][0]) if "from" in found else None
    end = _time("to", found["to"][0]) if "to" in found else None
    try:
        summaries = await usage_summary(
            database, group_by, bucket=bucket, start=start, end=end, key_id=key_id
        )
    except UserError as exc:
        raise _bad(exc.field or "query", exc.message) from None
    grouped = list(dict.fromkeys(group_by))
    data = []
    for summary in summaries:
        item: dict[str, Any] = {}
        if summary.start is not None:
            item["start"] = _shown_time(summary.start)
        for name in grouped:
            item["key_id" if name == "key" else name] = getattr(summary, name)
        item.update(
            requests=summary.requests,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
            cache_creation_input_tokens=summary.cache_write_tokens,
            cache_read_input_tokens=summary.cache_read_tokens,
            cost_usd=round(summary.cost, 9),
            errors=summary.errors,
            latency_ms_avg=round(summary.latency_ms_avg, 3),
            latency_ms_max=round(summary.latency_ms_max, 3),
        )
        data.append(item)
    answer = {
        "object": "usage",
        "group_by": grouped,
        "bucket": bucket,
        "from": _shown_time(start) if start is not None else None,
        "to": _shown_time(end) if end is not None else None,
        "data": data,
    }
    await exchange.send_bytes(200, orjson.dumps(answer))


def _shown_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def own_usage(core: GatewayCore, exchange: Exchange) -> None:
    """``GET /v1/usage``: the usage of the key or token presented."""
    principal = await core.principal(exchange.credential())
    if principal.account is None:
        raise GatewayError(
            401,
            "authentication_error",
            "the usage API needs an API key or a token (x-api-key or Authorization: Bearer)",
        )
    found = _parameters(exchange, _PARAMETERS)
    await core.admit_operation(principal, "usage")
    policies = core.policies
    await _answer(exchange, policies.database if policies is not None else None, found, principal.account)


async def admin_usage(core: GatewayCore, exchange: Exchange) -> None:
    """``GET /admin/usage``: every caller's usage (``key_id``: one key's or subject's)."""
    policies = core.check_admin(exchange.credential())
    found = _parameters(exchange, {*_PARAMETERS, "key_id"})
    key_id = found["key_id"][0] if "key_id" in found else None
    if key_id is not None and not key_id:
        raise _bad("key_id", "must not be empty")
    await _answer(exchange, policies.database, found, key_id)

"""The events surface: ``POST /v1/events`` (ingress), ``GET /v1/events/{id}`` (an event's state
and result), ``GET /v1/events/dead`` and ``POST /v1/events/dead/replay`` (dead letters).

A thin adapter over the event bus (``claudegate.gateway.events``): the caller is authenticated at
ingress and its events' runs go through the core as that caller (its per-key limits and budget
apply to each model turn). A caller sees only its own events. Errors are raised for the app to
answer in the caller's dialect (Anthropic's envelope, or OpenAI's for OpenAI-style headers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, parse_json_body, shown
from claudegate.gateway.events import EventBus, events_of

__all__ = ["PREFIX", "EventsSurface"]

PREFIX = "/v1/events"
_DEAD = PREFIX + "/dead"

Route = Callable[[GatewayCore, Exchange], Awaitable[None]]


class EventsSurface:
    """The ``/v1/events`` routes of one gateway."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` under ``/v1/events`` (None: no such route)."""
        if path == PREFIX:
            return self.publish if method == "POST" else None
        if path == _DEAD:
            return self.dead if method == "GET" else None
        if path == _DEAD + "/replay":
            return self.replay if method == "POST" else None
        rest = path[len(PREFIX) + 1 :]
        if rest and "/" not in rest:
            return self.show if method == "GET" else None
        return None

    async def publish(self, core: GatewayCore, exchange: Exchange) -> None:
        principal = await core.principal(exchange.credential())
        body = parse_json_body(await exchange.body(core.config.gateway.max_request_bytes))
        events = events_of(body)
        accepted = await self.bus.publish(principal, events, headers=exchange.forwarded_headers())
        answer = {"data": [item.json() for item in accepted]}
        await exchange.send_bytes(202, orjson.dumps(answer))

    async def show(self, core: GatewayCore, exchange: Exchange) -> None:
        principal = await core.principal(exchange.credential())
        event_id = exchange.path[len(PREFIX) + 1 :]
        view = await self.bus.get(principal.owner, event_id, wait=_wait(parse_qs(exchange.query)))
        if view is None:
            raise GatewayError(404, "not_found_error", f"no event {shown(event_id)!r}")
        await exchange.send_bytes(200, orjson.dumps(view))

    async def dead(self, core: GatewayCore, exchange: Exchange) -> None:
        principal = await core.principal(exchange.credential())
        query = parse_qs(exchange.query)
        limit = _limit(query)
        after = query["after_id"][0] if query.get("after_id") else None
        found = await self.bus.dead(principal.owner, limit=limit + 1, after=after)
        page = found[:limit]
        answer = {
            "data": page,
            "has_more": len(found) > limit,
            "last_id": page[-1]["run_id"] if page else None,
        }
        await exchange.send_bytes(200, orjson.dumps(answer))

    async def replay(self, core: GatewayCore, exchange: Exchange) -> None:
        principal = await core.principal(exchange.credential())
        raw = await exchange.body(core.config.gateway.max_request_bytes)
        body: dict[str, Any] = parse_json_body(raw) if raw.strip() else {}
        unknown = sorted(set(body) - {"event_ids"})
        if unknown:
            field = shown(unknown[0])
            raise GatewayError(400, "invalid_request_error", f"{field}: unknown field", param=field)
        ids = body.get("event_ids", [])
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise GatewayError(
                400, "invalid_request_error", "event_ids: must be a list of event ids", param="event_ids"
            )
        replayed = await self.bus.replay(principal.owner, ids)
        await exchange.send_bytes(202, orjson.dumps({"data": replayed}))


def _wait(query: dict[str, list[str]]) -> float:
    """``?wait=N``: seconds (at most 60) to wait for the event's runs to end."""
    raw = (query.get("wait") or ["0"])[0]
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 60:
        raise GatewayError(
            400, "invalid_request_error", "wait: must be a number of seconds from 0 to 60", param="wait"
        )
    return seconds


def _limit(query: dict[str, list[str]]) -> int:
    raw = (query.get("limit") or ["20"])[0]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
        raise GatewayError(
            400, "invalid_request_error", "limit: must be an integer from 1 to 100", param="limit"
        )
    return int(raw)

"""The Message Batches surface: ``/v1/messages/batches`` (create, list), ``…/{id}`` (retrieve,
delete), ``…/{id}/cancel`` and ``…/{id}/results`` (JSONL), as the Anthropic API serves them.

A thin adapter over ``claudegate.gateway.batches``: requests are checked here (each error names
``requests.<i>.params.<field>``), run by the job engine (or the upstream's batch API) as the
caller, and answered in Anthropic's shapes. A caller sees only its own batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.batches import BatchService, message_requests, webhook_url
from claudegate.gateway.core import GatewayCore, GatewayError, Outcome, parse_json_body
from claudegate.gateway.jobs import GroupCounts

__all__ = ["PREFIX", "MessageBatchesSurface"]

PREFIX = "/v1/messages/batches"
_MAX_LIMIT = 1000
_JSONL = (b"content-type", b"application/x-jsonl")
PROGRESS_HEADER = b"x-claudegate-progress"
"""Live counts of the requests that have ended (the API's ``request_counts`` show every request
``processing`` until the whole batch has ended); ``claudegate batch submit --wait`` reads them."""

Route = Callable[[GatewayCore, Exchange], Awaitable[Outcome | None]]


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, param)


def base_url(exchange: Exchange) -> str:
    """The gateway as the caller reached it (results URLs point there)."""
    host = exchange.header(b"host")
    return f"{exchange.scope.get('scheme', 'http')}://{host}" if host else ""


def _limit(query: dict[str, list[str]]) -> int:
    raw = (query.get("limit") or ["20"])[0]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_LIMIT:
        raise _bad(f"limit: Input should be an integer from 1 to {_MAX_LIMIT}", "limit")
    return int(raw)


class MessageBatchesSurface:
    """The ``/v1/messages/batches`` routes of one gateway."""

    def __init__(self, service: BatchService) -> None:
        self.service = service

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` under ``/v1/messages/batches`` (None: no such route)."""
        if path == PREFIX:
            return {"POST": self.create, "GET": self.list}.get(method)
        rest = path[len(PREFIX) + 1 :].split("/")
        if len(rest) == 1 and rest[0]:
            return {"GET": self.retrieve, "DELETE": self.delete}.get(method)
        if len(rest) == 2 and rest[0] and rest[1] == "cancel":
            return self.cancel if method == "POST" else None
        if len(rest) == 2 and rest[0] and rest[1] == "results":
            return self.results if method == "GET" else None
        return None

    async def create(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        config = core.config.batches
        body = parse_json_body(await exchange.body(config.max_bytes))
        requests = message_requests(body, config.max_requests)
        webhook = webhook_url(body.get("webhook"))
        if webhook is not None:
            await core.webhooks.check_submission(webhook, principal.account)
        batch = await self.service.create_messages(
            principal,
            requests,
            headers=exchange.forwarded_headers(),
            webhook=webhook,
            base_url=base_url(exchange),
        )
        view = self.service.message_json(batch, GroupCounts(), base_url(exchange))
        await exchange.send_bytes(200, orjson.dumps(view))
        return Outcome()

    async def list(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        query = parse_qs(exchange.query)
        after = query["after_id"][0] if query.get("after_id") else None
        before = query["before_id"][0] if query.get("before_id") else None
        if after and before:
            raise _bad("after_id and before_id cannot both be set", "before_id")
        found, has_more = await self.service.page(
            principal, "anthropic", after=after, before=before, limit=_limit(query)
        )
        data = [self.service.message_json(batch, counts, base_url(exchange)) for batch, counts in found]
        answer = {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        await exchange.send_bytes(200, orjson.dumps(answer))
        return Outcome()

    def _id(self, exchange: Exchange) -> str:
        return exchange.path[len(PREFIX) + 1 :].split("/")[0]

    async def retrieve(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch = await self.service.find(self._id(exchange), principal, "anthropic")
        batch, counts = await self.service.settle(batch)
        view = self.service.message_json(batch, counts, base_url(exchange))
        progress = f"succeeded={counts.succeeded},errored={counts.failed},canceled={counts.canceled}"
        await exchange.send_bytes(200, orjson.dumps(view), extra=[(PROGRESS_HEADER, progress.encode())])
        return Outcome()

    async def cancel(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch = await self.service.find(self._id(exchange), principal, "anthropic")
        batch, counts = await self.service.cancel(batch)
        await exchange.send_bytes(
            200, orjson.dumps(self.service.message_json(batch, counts, base_url(exchange)))
        )
        return Outcome()

    async def delete(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch = await self.service.find(self._id(exchange), principal, "anthropic")
        await self.service.delete(batch)
        await exchange.send_bytes(200, orjson.dumps({"id": batch.id, "type": "message_batch_deleted"}))
        return Outcome()

    async def results(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch = await self.service.find(self._id(exchange), principal, "anthropic")
        batch, counts = await self.service.settle(batch)
        view = self.service.message_json(batch, counts, base_url(exchange))
        if view["processing_status"] != "ended":
            raise GatewayError(
                400,
                "invalid_request_error",
                f"message_batch {batch.id} has not ended; its results are available once it has",
            )
        if view["archived_at"] is not None:
            raise GatewayError(
                404, "not_found_error", f"message_batch {batch.id} is archived: its results are gone"
            )
        lines = [chunk async for chunk in self.service.message_results(batch)]
        await exchange.send_bytes(200, b"".join(lines), _JSONL)
        return Outcome()

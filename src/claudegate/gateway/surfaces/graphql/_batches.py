"""Message Batches over GraphQL: ``batches``, ``batch(id)``, ``createBatch``, ``cancelBatch``.

The same batch service as ``/v1/messages/batches``: a batch's requests run as the caller's jobs
(its limits, budget, routing, one ledger row each), a caller sees only its own batches (anyone
else's is NOT_FOUND), and a batch is brought up to date (ended once) when it is read. A page of
batches reads every batch's counts, and every batch's first results, in one statement each.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
import strawberry
from strawberry.scalars import JSON

from claudegate.gateway.batches import Batch, message_requests, message_result, webhook_url
from claudegate.gateway.core import GatewayError
from claudegate.gateway.jobs import GroupCounts, Job
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._inputs import MessageInput, bad_input, page_size, request_of
from claudegate.gateway.surfaces.graphql._types import Connection, Edge, PageInfo, as_json, connection

if TYPE_CHECKING:
    from claudegate.gateway.batches import BatchService

__all__ = ["BatchInput", "BatchMutations", "BatchQueries", "BatchView", "load_results"]

Info = strawberry.Info[GraphQLContext, None]

DEFAULT_PAGE = 20
ResultKey = tuple[Batch, str | None, int]
"""A page of a batch's results: the batch, the cursor it follows, how many (one more than shown)."""
ResultItem = tuple[str, "BatchResult"]


@strawberry.enum(description="Where a Message Batch is: its requests run until it has ended.")
class BatchStatus(Enum):
    IN_PROGRESS = "in_progress"
    CANCELING = "canceling"
    ENDED = "ended"


@strawberry.enum(description="How one request of a batch ended.")
class BatchResultType(Enum):
    SUCCEEDED = "succeeded"
    ERRORED = "errored"
    CANCELED = "canceled"
    EXPIRED = "expired"


@strawberry.type(description="A batch's requests by state; all count as processing until it has ended.")
class BatchRequestCounts:
    processing: int
    succeeded: int
    errored: int
    canceled: int
    expired: int


@strawberry.type(description="One request's result: its message, or its error envelope.")
class BatchResult:
    custom_id: str
    type: BatchResultType
    message: JSON | None = strawberry.field(description="The Anthropic message, when it succeeded.")
    error: JSON | None = strawberry.field(description="The error envelope, when it errored.")


@strawberry.type(name="Batch", description="A Message Batch (what `/v1/messages/batches` shows).")
class BatchView:
    id: str
    processing_status: BatchStatus
    request_counts: BatchRequestCounts
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    cancel_initiated_at: datetime | None
    archived_at: datetime | None
    results_url: str | None = strawberry.field(description="Its JSONL results over REST, once ended.")
    batch: strawberry.Private[Batch]

    @strawberry.field(description="Each request's result in submission order, once the batch has ended.")
    async def results(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[BatchResult] | None:
        if self.processing_status is not BatchStatus.ENDED or self.archived_at is not None:
            return None
        items = await info.context.batch_results.load((self.batch, after, page_size(first) + 1))
        return connection(items, first, lambda item: item[0], lambda item: item[1])


@strawberry.input(description="One request of a batch: its id (unique in the batch) and the request.")
class BatchRequestInput:
    custom_id: str
    params: MessageInput


@strawberry.input(description="A Message Batch to run (`webhook`: told once it has ended).")
class BatchInput:
    requests: list[BatchRequestInput]
    webhook: str | None = strawberry.field(default=None, description="An http(s) URL.")


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def batch_view(service: BatchService, batch: Batch, counts: GroupCounts, base_url: str) -> BatchView:
    view = service.message_json(batch, counts, base_url)
    created, expires = _time(view["created_at"]), _time(view["expires_at"])
    assert created is not None and expires is not None
    return BatchView(
        id=batch.id,
        processing_status=BatchStatus(view["processing_status"]),
        request_counts=BatchRequestCounts(**view["request_counts"]),
        created_at=created,
        expires_at=expires,
        ended_at=_time(view["ended_at"]),
        cancel_initiated_at=_time(view["cancel_initiated_at"]),
        archived_at=_time(view["archived_at"]),
        results_url=view["results_url"],
        batch=batch,
    )


def _result(line: dict[str, Any]) -> BatchResult:
    result = line.get("result") or {}
    return BatchResult(
        custom_id=str(line.get("custom_id", "")),
        type=BatchResultType(result.get("type", "errored")),
        message=as_json(result.get("message")),
        error=as_json(result.get("error")),
    )


async def load_results(
    context: GraphQLContext, keys: list[ResultKey]
) -> list[list[ResultItem] | BaseException]:
    """Pages of batches' results: every first page of the same size in one statement."""
    service = context.services.batches
    engine = await service.open()
    heads: dict[int, list[Batch]] = {}
    for batch, after, limit in keys:
        if after is None and "upstream" not in batch.details:
            heads.setdefault(limit, []).append(batch)
    first_pages: dict[tuple[str, int], list[Job]] = {}
    for limit, batches in heads.items():
        found = await engine.group_heads([batch.id for batch in batches], limit)
        first_pages.update(((batch_id, limit), jobs) for batch_id, jobs in found.items())
    answers: list[list[ResultItem] | BaseException] = []
    for batch, after, limit in keys:
        if "upstream" in batch.details:
            answers.append(await _upstream_results(service, batch, after, limit))
            continue
        jobs = first_pages.get((batch.id, limit))
        if jobs is None:
            cursor = await engine.get(after) if after is not None else None
            if cursor is None or cursor.group_id != batch.id:
                answers.append(bad_input("not a cursor of these results", "after"))
                continue
            jobs = await engine.group(batch.id, after=after, limit=limit)
        answers.append([(job.id, _result(message_result(batch, job))) for job in jobs])
    return answers


async def _upstream_results(
    service: BatchService, batch: Batch, after: str | None, limit: int
) -> list[ResultItem] | BaseException:
    """A handed-off batch's results, as its upstream sent them (the cursor is a custom id)."""
    lines = [
        orjson.loads(line)
        async for chunk in service.message_results(batch)
        for line in chunk.splitlines()
        if line.strip()
    ]
    ids = [str(line.get("custom_id", "")) for line in lines]
    start = 0
    if after is not None:
        if after not in ids:
            return bad_input("not a cursor of these results", "after")
        start = ids.index(after) + 1
    return [(ids[n], _result(lines[n])) for n in range(start, min(len(lines), start + limit))]


_INDEX = re.compile(r"^requests\.(\d+)")


def _requests(context: GraphQLContext, input: BatchInput) -> list[tuple[str, dict[str, Any]]]:
    """The batch's ``(custom_id, params)``, each checked as ``/v1/messages/batches`` checks it."""
    body: dict[str, Any] = {
        "requests": [
            {"custom_id": item.custom_id, "params": request_of(item.params, f"input.requests[{n}].params")}
            for n, item in enumerate(input.requests)
        ]
    }
    try:
        return message_requests(body, context.core.config.batches.max_requests)
    except GatewayError as error:
        field = _INDEX.sub(r"requests[\1]", error.param or "requests").replace("custom_id", "customId")
        raise bad_input(error.message.split(": ", 1)[-1], f"input.{field}") from None


@strawberry.type
class BatchQueries:
    @strawberry.field(description="The caller's Message Batches, newest first.")
    async def batches(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[BatchView]:
        context = info.context
        owner = context.principal.owner
        service = context.services.batches
        await service.open()
        limit = page_size(first)
        page = await service.records.page(owner, "anthropic", after=after, before=None, limit=limit)
        settled = await service.settle_many(page.batches)
        edges = [
            Edge(cursor=batch.id, node=batch_view(service, batch, counts, context.base_url))
            for batch, counts in settled
        ]
        end = edges[-1].cursor if edges else None
        return Connection(edges=edges, page_info=PageInfo(has_next_page=page.has_more, end_cursor=end))

    @strawberry.field(description="One of the caller's Message Batches (NOT_FOUND for anyone else's).")
    async def batch(self, info: Info, id: str) -> BatchView | None:
        context = info.context
        service = context.services.batches
        found = await service.find(id, context.principal, "anthropic")
        batch, counts = await service.settle(found)
        return batch_view(service, batch, counts, context.base_url)


@strawberry.type
class BatchMutations:
    @strawberry.mutation(description="Run Messages requests as a Message Batch (see `batch(id)`).")
    async def create_batch(self, info: Info, input: BatchInput) -> BatchView:
        context = info.context
        principal = context.principal
        requests = _requests(context, input)
        try:
            webhook = webhook_url({"url": input.webhook} if input.webhook is not None else None)
        except GatewayError as error:
            raise bad_input(error.message.split(": ", 1)[-1], "input.webhook") from None
        if webhook is not None:
            await context.core.webhooks.check_submission(webhook, principal.account)
        service = context.services.batches
        batch = await service.create_messages(
            principal, requests, headers=context.headers, webhook=webhook, base_url=context.base_url
        )
        return batch_view(service, batch, GroupCounts(), context.base_url)

    @strawberry.mutation(description="Stop one of the caller's batches: what has not run ends canceled.")
    async def cancel_batch(self, info: Info, id: str) -> BatchView:
        context = info.context
        service = context.services.batches
        batch, counts = await service.cancel(await service.find(id, context.principal, "anthropic"))
        return batch_view(service, batch, counts, context.base_url)

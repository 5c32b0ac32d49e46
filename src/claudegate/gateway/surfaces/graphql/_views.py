"""Gateway records as GraphQL objects: keys, jobs (their key and ledger rows through DataLoaders)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._types import ApiKeyInfo, Budget, Limits, Usage, UsageRow, as_json

if TYPE_CHECKING:
    from claudegate.gateway.jobs import Job
    from claudegate.store import ApiKey, KeyBudget, KeyLimits, Spend

__all__ = ["JobView", "budget_of", "job_view", "key_view", "limits_of", "usage_of"]

Info = strawberry.Info[GraphQLContext, None]


def limits_of(limits: KeyLimits | None) -> Limits:
    return Limits(
        requests_per_minute=limits.requests_per_minute if limits else None,
        input_tokens_per_minute=limits.input_tokens_per_minute if limits else None,
        output_tokens_per_minute=limits.output_tokens_per_minute if limits else None,
        concurrent_requests=limits.concurrent_requests if limits else None,
    )


def budget_of(budget: KeyBudget | None, spend: Spend | None) -> Budget:
    day_cap = budget.cost_per_day if budget else None
    month_cap = budget.cost_per_month if budget else None
    today = spend.day if spend else 0.0
    month = spend.month if spend else 0.0
    return Budget(
        cost_per_day=day_cap,
        cost_per_month=month_cap,
        spent_today=today,
        spent_this_month=month,
        left_today=max(0.0, day_cap - today) if day_cap is not None else None,
        left_this_month=max(0.0, month_cap - month) if month_cap is not None else None,
    )


def key_view(key: ApiKey, spend: Spend | None = None) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        allowed_models=list(key.allowed_models),
        limits=limits_of(key.limits),
        budget=budget_of(key.budget, spend),
    )


def usage_of(usage: dict[str, Any] | None) -> Usage:
    usage = usage or {}

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) else 0

    return Usage(
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_read_input_tokens=count("cache_read_input_tokens"),
        cache_creation_input_tokens=count("cache_creation_input_tokens"),
    )


@strawberry.type(name="Job", description="An asynchronous job (a Messages request run later).")
class JobView:
    id: str
    status: str = strawberry.field(description="queued, running, succeeded, failed or canceled.")
    model: str | None
    priority: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metadata: JSON
    result: JSON | None = strawberry.field(description="The answer (an Anthropic message) once it succeeded.")
    error: JSON | None = strawberry.field(description="The error envelope once it failed.")
    usage: Usage | None
    cost_usd: float | None
    custom_id: str | None
    owner: strawberry.Private[str]

    @strawberry.field(description="The key that submitted it (null for a token or an open gateway).")
    async def key(self, info: Info) -> ApiKeyInfo | None:
        found = await info.context.keys.load(self.owner)
        return key_view(found) if found is not None else None

    @strawberry.field(description="Its attempts' ledger rows.")
    async def ledger(self, info: Info) -> list[UsageRow]:
        rows = await info.context.job_usage.load(self.id)
        return [
            UsageRow(
                request_id=row.request_id,
                model=row.model,
                deployment=row.deployment,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cost_usd=row.cost,
                status=row.status,
                time=row.time,
            )
            for row in rows
        ]


def _time(seconds: float | None) -> datetime | None:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def job_view(job: Job) -> JobView:
    succeeded = job.status == "succeeded"
    return JobView(
        id=job.id,
        status=job.status,
        model=job.request.get("model") if isinstance(job.request.get("model"), str) else None,
        priority=job.priority_name,
        attempts=job.attempts,
        created_at=_time(job.created_at) or datetime.min,
        started_at=_time(job.started_at),
        finished_at=_time(job.finished_at),
        metadata=as_json(job.metadata or {}),
        result=as_json(job.result) if succeeded else None,
        error=as_json(job.error.get("body")) if job.error is not None and not succeeded else None,
        usage=usage_of(job.usage) if succeeded else None,
        cost_usd=(job.cost or 0.0) if succeeded else None,
        custom_id=job.custom_id,
        owner=job.owner,
    )

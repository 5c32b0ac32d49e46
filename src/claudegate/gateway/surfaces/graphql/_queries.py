"""The queries: models, the caller, its usage and jobs; deployments and keys for the admin key."""

from datetime import datetime
from typing import Annotated

import strawberry

from claudegate.gateway.core import GatewayError, shown
from claudegate.gateway.surfaces.graphql._batches import BatchQueries
from claudegate.gateway.surfaces.graphql._context import GraphQLContext
from claudegate.gateway.surfaces.graphql._inputs import bad_input, page_size
from claudegate.gateway.surfaces.graphql._types import (
    ApiKeyInfo,
    Connection,
    Deployment,
    Me,
    Model,
    UsageBucket,
    UsageGroupBy,
    as_json,
    connection,
)
from claudegate.gateway.surfaces.graphql._views import JobView, budget_of, job_view, key_view, limits_of
from claudegate.gateway.surfaces.models import catalog

__all__ = ["Query", "connection"]

Info = strawberry.Info[GraphQLContext, None]

DEFAULT_PAGE = 20


def _model(item: dict[str, object]) -> Model:
    return Model(
        id=str(item["id"]), display_name=str(item["display_name"]), created_at=str(item["created_at"])
    )


@strawberry.type
class Query(BatchQueries):
    @strawberry.field(description="Every model a caller can name.")
    def models(self, info: Info) -> list[Model]:
        return [_model(item) for item in catalog(info.context.core.router)]

    @strawberry.field(description="One model (NOT_FOUND when no route serves the name).")
    def model(self, info: Info, id: str) -> Model | None:
        router = info.context.core.router
        for item in catalog(router):
            if item["id"] == id:
                return _model(item)
        if router.resolve(id) is None:
            raise GatewayError(404, "not_found_error", f"no model {shown(id)!r} on this gateway")
        return Model(id=id, display_name=id, created_at="2025-01-01T00:00:00Z")

    @strawberry.field(description="The calling key (or token): its limits and what is left of its budget.")
    async def me(self, info: Info) -> Me:
        context = info.context
        principal = context.principal
        key = principal.key
        budget = key.budget if key is not None else principal.budget
        policies = context.core.policies
        spend = None
        if policies is not None and principal.account is not None:
            spend = await policies.counters.spend(principal.account)
        kind = "key" if key is not None else "token" if principal.subject is not None else "anonymous"
        models = list(key.allowed_models) if key is not None and key.allowed_models else None
        if key is None and principal.models is not None:
            models = list(principal.models)
        return Me(
            id=principal.account,
            kind=kind,
            name=key.name if key is not None else principal.subject,
            prefix=key.prefix if key is not None else None,
            models=models,
            limits=limits_of(key.limits if key is not None else principal.limits),
            budget=budget_of(budget, spend),
        )

    @strawberry.field(
        description="Ledger totals over [from, to) grouped by the dimensions given: the caller's "
        "own, or every key's for the admin key."
    )
    async def usage(
        self,
        info: Info,
        group_by: list[UsageGroupBy],
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[UsageBucket]:
        from claudegate.store._usage_report import usage_report

        context = info.context
        key_id = None if context.admin else context.principal.owner
        for name, value in (("from", from_), ("to", to)):
            if value is not None and value.tzinfo is None:
                raise bad_input("needs a time zone (e.g. 2025-01-31T00:00:00Z)", name)
        policies = context.core.policies
        database = policies.database if policies is not None else None
        if database is None:
            return []  # no store: nothing is recorded
        groups = await usage_report(
            database, [dimension.value for dimension in group_by], start=from_, end=to, key_id=key_id
        )
        return [
            UsageBucket(
                key=group.key,
                model=group.model,
                deployment=group.deployment,
                day=group.day,
                hour=group.hour,
                requests=group.requests,
                input_tokens=group.input_tokens,
                output_tokens=group.output_tokens,
                cache_read_input_tokens=group.cache_read_tokens,
                cache_creation_input_tokens=group.cache_write_tokens,
                cost_usd=group.cost,
            )
            for group in groups
        ]

    @strawberry.field(description="The caller's jobs, newest first.")
    async def jobs(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[JobView]:
        owner = info.context.principal.owner
        engine = await info.context.services.jobs.engine()
        found = await engine.owned(owner, after=after, limit=page_size(first) + 1)
        return connection(found, first, lambda job: job.id, job_view)

    @strawberry.field(description="One of the caller's jobs (NOT_FOUND for anyone else's).")
    async def job(self, info: Info, id: str) -> JobView | None:
        owner = info.context.principal.owner
        engine = await info.context.services.jobs.engine()
        found = await engine.get(id, owner)
        if found is None:
            raise GatewayError(404, "not_found_error", f"no job {shown(id)!r}")
        return job_view(found)

    @strawberry.field(description="Each upstream deployment's health and breaker state (admin key only).")
    def deployments(self, info: Info) -> list[Deployment] | None:
        info.context.require_admin("deployments")
        snapshot = info.context.core.runtime.resilience.snapshot()
        out = []
        for entry in snapshot["deployments"]:
            breaker = entry.get("breaker")
            out.append(
                Deployment(
                    name=entry["name"],
                    state=entry["state"],
                    breaker_state=breaker.get("state") if isinstance(breaker, dict) else None,
                    calls=entry["calls"],
                    failures=entry["failures"],
                    consecutive_failures=entry["consecutive_failures"],
                    last_error=entry.get("last_error"),
                    breaker=as_json(breaker),
                    latency=as_json(entry.get("latency") or {}),
                )
            )
        return out

    @strawberry.field(description="Every gateway key, oldest first (admin key only).")
    async def keys(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[ApiKeyInfo] | None:
        info.context.require_admin("keys")
        policies = info.context.core.policies
        assert policies is not None and policies.keys is not None  # the admin key implies them
        every = await policies.keys.list()
        start = 0
        if after is not None:
            ids = [key.id for key in every]
            if after not in ids:
                raise bad_input("not a cursor of this list", "after")
            start = ids.index(after) + 1
        return connection(every[start : start + page_size(first) + 1], first, lambda key: key.id, key_view)

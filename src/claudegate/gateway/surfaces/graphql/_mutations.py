"""The mutations: a message, jobs, and (admin key) gateway keys."""

from typing import Any

import strawberry

from claudegate.errors import UserError
from claudegate.gateway.core import Call, GatewayError, shown
from claudegate.gateway.jobs import PRIORITIES, JobSpec
from claudegate.gateway.surfaces.graphql._batches import BatchMutations
from claudegate.gateway.surfaces.graphql._context import PATH, GraphQLContext
from claudegate.gateway.surfaces.graphql._inputs import (
    JobInput,
    KeyInput,
    MessageInput,
    bad_input,
    request_of,
)
from claudegate.gateway.surfaces.graphql._types import ApiKeyInfo, CreatedKey, Message, as_json
from claudegate.gateway.surfaces.graphql._views import JobView, job_view, key_view, usage_of

__all__ = ["Mutation", "message_call"]

Info = strawberry.Info[GraphQLContext, None]


def message_call(context: GraphQLContext, input: MessageInput, *, stream: bool) -> Call:
    """The core call of a ``MessageInput`` (a 400 naming the bad field first), logged as the field
    that made it (``createMessage`` or ``messageStream``) on ``/graphql``."""
    import orjson

    request = request_of(input)
    if stream:
        request["stream"] = True
    return Call(
        context.principal,
        "graphql",
        request,
        stream=stream,
        size=len(orjson.dumps(request)),
        headers=context.headers,
        access=("messageStream" if stream else "createMessage", PATH),
    )


def _text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(
        block["text"]
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _fields(names: tuple[str, ...], value: object) -> dict[str, Any]:
    return {name: getattr(value, name) for name in names} if value is not None else {}


@strawberry.type
class Mutation(BatchMutations):
    @strawberry.mutation(
        description="Ask a model (a Messages request); the whole answer, its usage and cost."
    )
    async def create_message(self, info: Info, input: MessageInput) -> Message:
        call = message_call(info.context, input, stream=False)
        response = await info.context.core.create(call)
        message = response.message
        content = message.get("content")
        return Message(
            id=str(message.get("id", "")),
            model=str(message.get("model", call.model)),
            role=str(message.get("role", "assistant")),
            text=_text(content),
            content=as_json(content if isinstance(content, list) else []),
            stop_reason=message.get("stop_reason"),
            stop_sequence=message.get("stop_sequence"),
            usage=usage_of(message.get("usage")),
            cost_usd=call.outcome.cost,
            request_id=call.request_id,
        )

    @strawberry.mutation(description="Queue a Messages request as a job (see `jobUpdates`).")
    async def submit_job(self, info: Info, input: JobInput) -> JobView:
        context = info.context
        principal = context.principal
        request = request_of(input.request, "input.request")
        if input.priority not in PRIORITIES:
            raise bad_input("must be 'high', 'medium' or 'low'", "input.priority")
        if input.metadata is not None and not isinstance(input.metadata, dict):
            raise bad_input("must be an object", "input.metadata")
        spec = JobSpec(request=request, priority=input.priority, metadata=input.metadata)
        engine = await context.services.jobs.engine()
        jobs = await engine.submit(principal, [spec], headers=context.headers)
        return job_view(jobs[0])

    @strawberry.mutation(description="Cancel one of the caller's jobs (a running attempt is cut).")
    async def cancel_job(self, info: Info, id: str) -> JobView:
        owner = info.context.principal.owner
        engine = await info.context.services.jobs.engine()
        job = await engine.cancel(id, owner)
        if job is None:
            raise GatewayError(404, "not_found_error", f"no job {shown(id)!r}")
        return job_view(job)

    @strawberry.mutation(description="Issue a gateway key (admin key only); its secret is shown once.")
    async def create_key(self, info: Info, input: KeyInput) -> CreatedKey | None:
        from claudegate.store import KeyBudget, KeyLimits

        context = info.context
        context.require_admin("createKey")
        policies = context.core.policies
        assert policies is not None and policies.keys is not None and policies.auth is not None
        try:
            created = await policies.keys.create(
                input.name,
                allowed_models=input.allowed_models or (),
                limits=KeyLimits(**_fields(KeyLimits.__slots__, input.limits)),
                budget=KeyBudget(**_fields(KeyBudget.__slots__, input.budget)),
            )
        except UserError as exc:
            field = f"input.{exc.field}" if exc.field else "input"
            raise GatewayError(400, "invalid_request_error", exc.message, field) from None
        policies.auth.opened()
        return CreatedKey(key=key_view(created.key), secret=created.plaintext)

    @strawberry.mutation(description="Revoke a gateway key for good (admin key only).")
    async def revoke_key(self, info: Info, id: str) -> ApiKeyInfo | None:
        context = info.context
        context.require_admin("revokeKey")
        policies = context.core.policies
        assert policies is not None and policies.keys is not None and policies.auth is not None
        if await policies.keys.get(id) is None:
            raise GatewayError(404, "not_found_error", f"no API key with id {shown(id)!r}")
        key = await policies.keys.revoke(id)
        policies.auth.forget(id)
        return key_view(key)

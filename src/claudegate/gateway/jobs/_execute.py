"""One attempt at a job: its request made a ``Call`` as the surfaces make theirs, run by
``GatewayCore.create`` (auth already done at submit time; limits, budget, routing, failover and
settlement are the core's), the answer framed in the job's dialect.

The call writes no ledger row of its own (``Call.ledger`` is off): the job engine writes it with
the job's end or retry, in one transaction, so an attempt a crash cut short leaves no row and an
answer is never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from claudegate.gateway.core import (
    Call,
    ChatRequest,
    GatewayCore,
    GatewayError,
    Principal,
    anthropic_error,
    classify,
    openai_body,
)
from claudegate.gateway.jobs._model import Job
from claudegate.translate import (
    TranslationError,
    chat_request_to_messages,
    message_to_chat_completion,
    response_format_tool_name,
)

__all__ = ["Attempt", "error_record", "execute", "retryable"]

_BUDGET = "budget exhausted"  # the core's refusal of a key over its spend cap (see core/_budget.py)


@dataclass(slots=True)
class Attempt:
    """How one attempt went: the answer in the job's dialect, or the error."""

    call: Call | None
    result: dict[str, Any] | None = None
    error: GatewayError | None = None


def retryable(error: GatewayError) -> bool:
    """Whether a later attempt may succeed: an upstream's overload, rate limit, server error or a
    lost connection — never a client error, and never a budget refusal."""
    if error.status == 429:
        return not error.message.startswith(_BUDGET)
    return error.status in (408, 409) or error.status >= 500


def error_record(error: GatewayError, dialect: str, request_id: str) -> dict[str, Any]:
    """An error as a job keeps it: its status and its envelope in the job's dialect."""
    envelope = orjson.loads(openai_body(error)) if dialect == "openai" else anthropic_error(error, request_id)
    return {"status": error.status, "body": envelope}


def _canonical(
    chat: dict[str, Any], default_max_tokens: int
) -> tuple[dict[str, Any], TranslationError | None]:
    """A chat request's Messages translation; when it has none, what routing and limits read of it
    (only an OpenAI-speaking deployment can then serve it)."""
    try:
        return chat_request_to_messages(chat, default_max_tokens=default_max_tokens), None
    except TranslationError as exc:
        caps = [chat.get(key) for key in ("max_completion_tokens", "max_tokens")]
        cap = next((value for value in caps if isinstance(value, int) and value > 0), default_max_tokens)
        return {"model": chat["model"], "max_tokens": cap, "messages": []}, exc


def build_call(
    core: GatewayCore, job: Job, principal: Principal, headers: dict[str, str], request_id: str
) -> Call:
    """The call one attempt of ``job`` makes."""
    raw = orjson.dumps(job.request)
    if job.dialect == "openai":
        body, untranslatable = _canonical(job.request, core.config.gateway.default_max_tokens)
        return Call(
            principal,
            "openai",
            body,
            size=len(raw),
            headers=headers,
            request_id=request_id,
            chat=ChatRequest.of(job.request, raw, untranslatable),
            ledger=False,
        )
    return Call(
        principal,
        "anthropic",
        job.request,
        raw=raw,
        size=len(raw),
        headers=headers,
        request_id=request_id,
        ledger=False,
    )


async def execute(core: GatewayCore, job: Job, call: Call) -> Attempt:
    """Run ``call`` through the core; the answer in ``job``'s dialect, or the error."""
    try:
        response = await core.create(call)
    except Exception as exc:
        return Attempt(call, error=classify(exc))
    if job.dialect == "anthropic":  # an Anthropic call's answer is always a Message
        return Attempt(call, result=response.message)
    if response.dialect == "openai":
        assert response.raw is not None
        return Attempt(call, result=orjson.loads(response.raw))
    completion = message_to_chat_completion(
        response.message, response_tool=response_format_tool_name(job.request)
    )
    return Attempt(call, result=completion)

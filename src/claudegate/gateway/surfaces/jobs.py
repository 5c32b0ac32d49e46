"""The jobs surface: ``/v1/jobs`` (submit, list), ``/v1/jobs/{id}`` (read, cancel) and
``/v1/jobs/{id}/deliveries`` (the webhook log, manual redelivery).

A thin adapter over the job engine (``claudegate.gateway.jobs``): the caller is authenticated at
submit time and the job runs as that caller later, through the core. A caller sees only its own
jobs (anyone else's id is the same 404 as an unknown one). Errors come in the caller's dialect:
OpenAI's envelope for an ``openai`` job or a caller sending OpenAI-style headers, else Anthropic's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import (
    GatewayCore,
    GatewayError,
    Outcome,
    Principal,
    anthropic_body,
    openai_body,
    parse_json_body,
    shown,
)
from claudegate.gateway.jobs import PRIORITIES, Job, JobEngine, JobService, JobSpec, delivery_json, job_json

__all__ = ["PREFIX", "JobsSurface"]

PREFIX = "/v1/jobs"
_DIALECTS = ("anthropic", "openai")
_MAX_METADATA = 16 * 1024

Route = Callable[[GatewayCore, Exchange], Awaitable[Outcome | None]]


class _Seen:
    """The dialect of the job a request is about, once known (its errors are answered in it)."""

    __slots__ = ("dialect",)

    def __init__(self) -> None:
        self.dialect: str | None = None

    def of(self, job: Job) -> Job:
        self.dialect = job.dialect
        return job


Work = Callable[[JobEngine, Principal, _Seen], Awaitable[None]]


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, param)


def _require(body: dict[str, Any], name: str, kind: type, what: str) -> None:
    value = body.get(name)
    if value is None:
        raise _bad(f"request.{name}: field required", f"request.{name}")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _bad(f"request.{name}: must be {what}", f"request.{name}")


def job_spec(body: dict[str, Any]) -> JobSpec:
    """A ``POST /v1/jobs`` body as a ``JobSpec``, or a 400 naming the field."""
    unknown = sorted(set(body) - {"request", "dialect", "webhook", "metadata", "priority"})
    if unknown:
        raise _bad(f"{shown(unknown[0])}: unknown field", unknown[0])
    dialect = body.get("dialect", "anthropic")
    if dialect not in _DIALECTS:
        raise _bad("dialect: must be 'anthropic' or 'openai'", "dialect")
    request = body.get("request")
    if request is None:
        raise _bad("request: field required (the request to run)", "request")
    if not isinstance(request, dict):
        raise _bad("request: must be an object", "request")
    _require(request, "model", str, "a model name")
    if dialect == "anthropic":
        _require(request, "max_tokens", int, "an integer")
    _require(request, "messages", list, "a list of messages")
    if request.get("stream") is True:
        raise _bad("request.stream: a job's answer is kept whole; leave stream out", "request.stream")
    priority = body.get("priority", "medium")
    if priority not in PRIORITIES:
        raise _bad("priority: must be 'high', 'medium' or 'low'", "priority")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _bad("metadata: must be an object", "metadata")
    if metadata is not None and len(orjson.dumps(metadata)) > _MAX_METADATA:
        raise _bad(f"metadata: at most {_MAX_METADATA} bytes of JSON", "metadata")
    return JobSpec(
        request=request,
        dialect=dialect,
        priority=priority,
        webhook_url=_webhook(body.get("webhook")),
        metadata=metadata,
    )


def _webhook(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("webhook: must be an object with a url", "webhook")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise _bad("webhook.url: must be an http(s) URL of at most 2048 characters", "webhook.url")
    unknown = sorted(set(value) - {"url"})
    if unknown:
        raise _bad(f"webhook.{shown(unknown[0])}: unknown field", f"webhook.{unknown[0]}")
    return url


class JobsSurface:
    """The ``/v1/jobs`` routes of one gateway (handlers take the core and the exchange)."""

    def __init__(self, service: JobService) -> None:
        self.service = service

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` under ``/v1/jobs`` (None: no such route)."""
        if path == PREFIX:
            return {"POST": self.submit, "GET": self.list}.get(method)
        rest = path[len(PREFIX) + 1 :].split("/")
        if len(rest) == 1 and rest[0]:
            return {"GET": self.show, "DELETE": self.cancel}.get(method)
        if len(rest) == 2 and rest[0] and rest[1] == "deliveries":
            return {"GET": self.deliveries, "POST": self.redeliver}.get(method)
        return None

    async def _guarded(self, core: GatewayCore, exchange: Exchange, work: Work) -> Outcome:
        """Run ``work``; answer its errors in the caller's dialect (the job's, once ``work`` has
        learned it, else the one the caller's headers suggest)."""
        seen = _Seen()
        try:
            principal = await core.principal(exchange.credential())
            await work(await self.service.engine(), principal, seen)
            return Outcome()
        except GatewayError as exc:
            error = exc
        if exchange.response_started:
            raise error
        openai = seen.dialect == "openai" or (seen.dialect is None and _openai_headers(exchange))
        body = openai_body(error) if openai else anthropic_body(error, exchange.request_id)
        extra = [(b"x-should-retry", b"true" if error.status == 429 or error.status >= 500 else b"false")]
        extra += [(name.encode(), value.encode()) for name, value in error.headers.items()]
        await exchange.send_bytes(error.status, body, extra=extra)
        return Outcome(status=error.status, error=error)

    async def submit(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            body = parse_json_body(await exchange.body(core.config.gateway.max_request_bytes))
            if body.get("dialect") in _DIALECTS:
                seen.dialect = body["dialect"]
            spec = job_spec(body)
            if spec.webhook_url is not None:
                await core.webhooks.check_submission(spec.webhook_url, principal.account)
            (job,) = await engine.submit(principal, [spec], headers=exchange.forwarded_headers())
            url = _status_url(exchange, job.id)
            answer = _job_view(exchange, job)
            await exchange.send_bytes(202, orjson.dumps(answer), extra=[(b"location", url.encode())])

        return await self._guarded(core, exchange, work)

    async def list(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            query = parse_qs(exchange.query)
            limit = _limit(query)
            after = query["after_id"][0] if query.get("after_id") else None
            jobs = await engine.owned(principal.owner, after=after, limit=limit + 1)
            page = jobs[:limit]
            answer = {
                "data": [_job_view(exchange, job) for job in page],
                "has_more": len(jobs) > limit,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            }
            await exchange.send_bytes(200, orjson.dumps(answer))

        return await self._guarded(core, exchange, work)

    async def show(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            job = seen.of(await _own(engine, exchange, principal.owner))
            wait = _wait(parse_qs(exchange.query))
            if wait > 0 and not job.done:
                job = await engine.wait(job.id, principal.owner, wait) or job
            await exchange.send_bytes(200, _job_body(exchange, job))

        return await self._guarded(core, exchange, work)

    async def cancel(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            job = seen.of(await _own(engine, exchange, principal.owner))
            if not job.done:
                job = await engine.cancel(job.id, principal.owner) or job
            await exchange.send_bytes(200, _job_body(exchange, job))

        return await self._guarded(core, exchange, work)

    async def deliveries(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            job = seen.of(await _own(engine, exchange, principal.owner))
            found = await engine.job_deliveries(job.id)
            await exchange.send_bytes(200, orjson.dumps({"data": [delivery_json(item) for item in found]}))

        return await self._guarded(core, exchange, work)

    async def redeliver(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        async def work(engine: JobEngine, principal: Principal, seen: _Seen) -> None:
            job = seen.of(await _own(engine, exchange, principal.owner))
            if job.webhook_url is None:
                raise GatewayError(409, "invalid_request_error", f"job {job.id} has no webhook")
            if not job.done:
                raise GatewayError(
                    409, "invalid_request_error", f"job {job.id} has not ended: nothing to redeliver"
                )
            redone = await engine.redeliver(job.id)
            await exchange.send_bytes(202, orjson.dumps({"data": [delivery_json(item) for item in redone]}))

        return await self._guarded(core, exchange, work)


def _openai_headers(exchange: Exchange) -> bool:
    """A caller without Anthropic's headers is answered as OpenAI's clients expect (as elsewhere)."""
    return b"anthropic-version" not in exchange.headers and b"x-api-key" not in exchange.headers


def _status_url(exchange: Exchange, job_id: str) -> str:
    host = exchange.header(b"host")
    path = f"{PREFIX}/{job_id}"
    if not host:
        return path
    scheme = exchange.scope.get("scheme", "http")
    return f"{scheme}://{host}{path}"


def _limit(query: dict[str, list[str]]) -> int:
    raw = (query.get("limit") or ["20"])[0]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:  # "²" is a digit, not an int
        raise _bad("limit: must be an integer from 1 to 100", "limit")
    return int(raw)


async def _own(engine: JobEngine, exchange: Exchange, owner: str) -> Job:
    """The job the path names, when it is the caller's (else the 404 of an unknown id)."""
    job_id = exchange.path[len(PREFIX) + 1 :].split("/")[0]
    job = await engine.get(job_id, owner)
    if job is None:
        raise GatewayError(404, "not_found_error", f"no job {shown(job_id)!r}")
    return job


def _job_view(exchange: Exchange, job: Job) -> dict[str, Any]:
    return {**job_json(job), "status_url": _status_url(exchange, job.id)}


def _job_body(exchange: Exchange, job: Job) -> bytes:
    return orjson.dumps(_job_view(exchange, job))


def _wait(query: dict[str, list[str]]) -> float:
    """``?wait=N``: answer once the job has ended, or after N seconds (at most 60)."""
    raw = (query.get("wait") or ["0"])[0]
    try:
        value = float(raw)
    except ValueError:
        raise _bad("wait: must be a number of seconds from 0 to 60", "wait") from None
    if not 0 <= value <= 60:
        raise _bad("wait: must be a number of seconds from 0 to 60", "wait")
    return value

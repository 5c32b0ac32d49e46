"""Message Batches handed to an Anthropic upstream's own batch API (billed at half price there).

A batch is handed over when every request's model goes to one route whose config asks for it
(``batches: {upstream: true}``) and that route has an ``anthropic`` deployment: its first such
deployment gets the whole batch, each ``model`` rewritten to the deployment's name for it. The
gateway keeps its own id for the batch and relays the upstream's status, counts and results; when
the upstream batch has ended, each executed request is written to the ledger (and its cost to the
key's budget) once, at the upstream's price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from claudegate.client import AsyncClient, RetryPolicy
from claudegate.gateway.core import GatewayCore, GatewayError, Principal, classify, shown, usage_cost
from claudegate.providers.anthropic import AnthropicProvider
from claudegate.store import UsageRecord

__all__ = ["BATCH_DISCOUNT", "Handoff", "UpstreamBatches", "batch_usage_record"]

BATCH_DISCOUNT = 0.5
"""What an upstream batch request costs, as a share of the same request sent alone."""

_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


class Handoff:
    """Where a batch goes upstream: the deployment's name and the requests as it gets them."""

    def __init__(self, deployment: str, requests: list[dict[str, Any]]) -> None:
        self.deployment = deployment
        self.requests = requests


class UpstreamBatches:
    """Creates, reads, cancels and deletes batches on Anthropic upstreams (see the module docstring)."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    def target(self, principal: Principal, requests: list[tuple[str, dict[str, Any]]]) -> Handoff | None:
        """The hand-off of ``requests``, or None when they are run by the gateway's own engine."""
        chosen = None
        for index, (_, params) in enumerate(requests):
            model = params["model"]
            if not principal.may_use(model):
                raise GatewayError(
                    403,
                    "permission_error",
                    f"this {principal.kind} may not use model {shown(model)!r}",
                    f"requests.{index}.params.model",
                )
            route = self.core.router.resolve(model)
            if route is None or (chosen is not None and route is not chosen):
                return None
            chosen = route
        if chosen is None:
            return None
        config = next((item for item in self.core.config.models if item.name == chosen.name), None)
        if config is None or not config.batches.upstream:
            return None
        deployment = next(
            (item for item in chosen.deployments if isinstance(item.provider, AnthropicProvider)), None
        )
        if deployment is None:
            return None
        rewritten = [
            {
                "custom_id": custom_id,
                "params": {**params, "model": deployment.upstream_model(params["model"])},
            }
            for custom_id, params in requests
        ]
        return Handoff(deployment.name, rewritten)

    def _client(self, deployment: str) -> AsyncClient:
        for candidate in self.core.router.deployments():
            if candidate.name == deployment and isinstance(candidate.provider, AnthropicProvider):
                return candidate.provider.client
        raise GatewayError(
            502, "api_error", f"the deployment {deployment!r} holding this batch is no longer configured"
        )

    async def _json(self, deployment: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        client = self._client(deployment)
        try:
            request = client.build_request(method, path, body)
            response = await client.send(request, retry=RetryPolicy.none())
            return orjson.loads(await response.aread())
        except Exception as exc:
            raise classify(exc) from None

    async def create(self, handoff: Handoff) -> dict[str, Any]:
        """The upstream's new batch."""
        answer: dict[str, Any] = await self._json(
            handoff.deployment, "POST", "/v1/messages/batches", {"requests": handoff.requests}
        )
        return answer

    async def retrieve(self, deployment: str, upstream_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._json(deployment, "GET", f"/v1/messages/batches/{upstream_id}")
        return answer

    async def cancel(self, deployment: str, upstream_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._json(
            deployment, "POST", f"/v1/messages/batches/{upstream_id}/cancel"
        )
        return answer

    async def delete(self, deployment: str, upstream_id: str) -> None:
        await self._json(deployment, "DELETE", f"/v1/messages/batches/{upstream_id}")

    async def results(self, deployment: str, upstream_id: str) -> bytes:
        """The upstream's results, as it sent them (one JSON line per request)."""
        client = self._client(deployment)
        try:
            request = client.build_request("GET", f"/v1/messages/batches/{upstream_id}/results", stream=True)
            request.headers["accept"] = "application/binary"
            response = await client.send(request, retry=RetryPolicy.none())
            return await response.aread()
        except Exception as exc:
            raise classify(exc) from None

    def ledger_rows(
        self, batch_id: str, owner: str | None, deployment: str, lines: list[dict[str, Any]]
    ) -> tuple[list[UsageRecord], float]:
        """One ledger row per executed request of an ended upstream batch, and their total cost."""
        rows, total = [], 0.0
        now = datetime.fromtimestamp(self.core.clock(), UTC)
        for line in lines:
            result = line.get("result") or {}
            kind = result.get("type")
            if kind not in ("succeeded", "errored"):
                continue
            message = result.get("message") or {}
            usage = message.get("usage") or {}
            model = str(message.get("model") or "unknown")
            cost = usage_cost(model, usage) * BATCH_DISCOUNT if kind == "succeeded" else 0.0
            error = ((result.get("error") or {}).get("error") or {}).get("type")
            record = batch_usage_record(
                f"{batch_id}/{line.get('custom_id')}"[:100],
                owner,
                model,
                deployment,
                usage,
                cost=cost,
                status=200 if kind == "succeeded" else _ERROR_STATUS.get(str(error), 500),
                time=now,
            )
            rows.append(record)
            total += cost
        return rows, total


def batch_usage_record(
    request_id: str,
    key_id: str | None,
    model: str,
    deployment: str,
    usage: dict[str, Any],
    *,
    cost: float,
    status: int,
    time: datetime,
    latency_ms: float = 0.0,
) -> UsageRecord:
    """The ledger row of one request an upstream batch ran (``usage`` as the Messages API reports it)."""
    return UsageRecord(
        request_id=request_id,
        key_id=key_id,
        model=model,
        deployment=deployment,
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
        cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
        cost=cost,
        latency_ms=latency_ms,
        status=status,
        time=time,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

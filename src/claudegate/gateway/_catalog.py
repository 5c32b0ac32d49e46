"""``GET /v1/models`` and ``GET /v1/models/{id}``, in a shape both dialects' clients read.

Each item carries Anthropic's fields (``type``, ``display_name``, ``created_at``) and OpenAI's
(``object``, ``created``, ``owned_by``); the list carries Anthropic's paging fields and OpenAI's
``object: "list"``. The official SDKs of both, and n8n's model picker, accept it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._errors import GatewayError
from claudegate.gateway._http import Exchange
from claudegate.gateway._router import Deployment
from claudegate.gateway._state import GatewayState
from claudegate.providers.simulator import SimulatorProvider

__all__ = ["list_models", "retrieve_model"]

_EPOCH_TEXT = "2025-01-01T00:00:00Z"


def _item(model_id: str, display_name: str | None = None, created_at: str | None = None) -> dict[str, Any]:
    created_text = created_at or _EPOCH_TEXT
    created = int(datetime.fromisoformat(created_text.replace("Z", "+00:00")).astimezone(UTC).timestamp())
    return {
        "id": model_id,
        "type": "model",
        "display_name": display_name or model_id,
        "created_at": created_text,
        "object": "model",
        "created": created,
        "owned_by": "claudegate",
    }


def catalog(state: GatewayState) -> list[dict[str, Any]]:
    """Every model a client can name: configured names, and a simulator's own catalogue behind a
    wildcard route."""
    items: dict[str, dict[str, Any]] = {}
    for route in state.router.routes:
        if route.listed:
            items.setdefault(route.name, _item(route.name))
            continue
        for deployment in route.deployments:
            if isinstance(deployment.provider, SimulatorProvider):
                for spec in deployment.provider.simulator.config.models:
                    if state.router.resolve(spec.id) is not route:
                        continue  # another route (or none) answers this name
                    items.setdefault(spec.id, _item(spec.id, spec.display_name, spec.created_at))
    return list(items.values())


def _may_serve(deployment: Deployment, model_id: str) -> bool:
    """False only when this deployment is sure to refuse the name (a simulator knows its catalogue)."""
    if deployment.model is not None or not isinstance(deployment.provider, SimulatorProvider):
        return True
    return any(
        model_id == spec.id or model_id in spec.aliases
        for spec in deployment.provider.simulator.config.models
    )


async def list_models(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    query = parse_qs(exchange.query)
    items = catalog(state)
    after = query.get("after_id", [None])[0]
    before = query.get("before_id", [None])[0]
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if after in ids:
        start = ids.index(after) + 1
    if before in ids:
        end = ids.index(before)
    limit_text = query.get("limit", [None])[0]
    limit = int(limit_text) if limit_text and limit_text.isdigit() else 1000
    limit = max(1, min(limit, 1000))
    page = items[start:end][:limit]
    has_more = start + len(page) < end
    body = {
        "object": "list",
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    await exchange.send_bytes(200, orjson.dumps(body))
    return "", ""


async def retrieve_model(state: GatewayState, exchange: Exchange) -> tuple[str, str]:
    model_id = exchange.path.removeprefix("/v1/models/").removeprefix("/models/")
    for item in catalog(state):
        if item["id"] == model_id:
            await exchange.send_bytes(200, orjson.dumps(item))
            return "", ""
    route = state.router.resolve(model_id)
    if route is None or not any(_may_serve(deployment, model_id) for deployment in route.deployments):
        raise GatewayError(404, "not_found_error", f"model: {model_id!r} is not served by this gateway")
    await exchange.send_bytes(200, orjson.dumps(_item(model_id)))
    return "", ""

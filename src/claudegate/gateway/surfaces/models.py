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

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore
from claudegate.gateway.core._router import Deployment, Router
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


def catalog(router: Router) -> list[dict[str, Any]]:
    """Every model a client can name: configured names, and a simulator's own catalogue behind a
    wildcard route."""
    items: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        if route.listed:
            items.setdefault(route.name, _item(route.name))
            continue
        for deployment in route.deployments:
            if isinstance(deployment.provider, SimulatorProvider):
                for spec in deployment.provider.simulator.config.models:
                    if router.resolve(spec.id) is not route:
                        continue  # another route (or none) answers this name
                    items.setdefault(spec.id, _item(spec.id, spec.display_name, spec.created_at))
    return list(items.values())


def _known(deployment: Deployment, model_id: str) -> dict[str, Any] | bool | None:
    """The catalogue entry a simulator deployment has for ``model_id`` (an alias gives its dated
    entry), False when it is sure to refuse the name, None when it cannot tell."""
    if deployment.model is not None or not isinstance(deployment.provider, SimulatorProvider):
        return None
    for spec in deployment.provider.simulator.config.models:
        if model_id == spec.id or model_id in spec.aliases:
            return _item(spec.id, spec.display_name, spec.created_at)
    return False


async def list_models(core: GatewayCore, exchange: Exchange) -> None:
    query = parse_qs(exchange.query)
    items = catalog(core.router)
    after = query.get("after_id", [None])[0]
    before = query.get("before_id", [None])[0]
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if after in ids:
        start = ids.index(after) + 1
    if before in ids:
        end = ids.index(before)
    limit_text = query.get("limit", [None])[0]
    # ASCII only: isdigit() also admits digits that int() refuses ("²").
    limit = int(limit_text) if limit_text and limit_text.isascii() and limit_text.isdigit() else 1000
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


async def retrieve_model(core: GatewayCore, exchange: Exchange) -> None:
    model_id = exchange.path.removeprefix("/v1/models/").removeprefix("/models/")
    router = core.router
    for item in catalog(router):
        if item["id"] == model_id:
            await exchange.send_bytes(200, orjson.dumps(item))
            return
    route = router.resolve(model_id)
    known = [_known(deployment, model_id) for deployment in route.deployments] if route else []
    entry = next((found for found in known if isinstance(found, dict)), None)
    if entry is None and (route is None or all(found is False for found in known)):
        raise core.runtime.unknown(model_id)
    await exchange.send_bytes(200, orjson.dumps(entry or _item(model_id)))

"""The admin API for gateway keys: ``POST /admin/keys``, ``GET /admin/keys``, ``DELETE /admin/keys/{id}``,
and ``POST /admin/keys/{id}/webhook-secret`` (see ``webhook_secrets``).

Every call needs the admin key (``auth.admin_key``), compared in constant time. A created key's
plaintext is in the ``POST`` answer only; the database keeps its hash.
"""

from __future__ import annotations

from typing import Any

import orjson

from claudegate.errors import UserError
from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, parse_json_body
from claudegate.gateway.core._policies import Policies
from claudegate.gateway.surfaces import webhook_secrets
from claudegate.store import ApiKey, KeyBudget, KeyLimits

__all__ = ["ADMIN_PATH", "admin_keys", "key_to_json"]

ADMIN_PATH = "/admin/keys"
_MAX_BODY = 64 * 1024


def key_to_json(key: ApiKey) -> dict[str, Any]:
    """A key's metadata as the admin API and ``claudegate keys list --json`` show it."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "allowed_models": list(key.allowed_models),
        "limits": {name: getattr(key.limits, name) for name in KeyLimits.__slots__},
        "budget": {name: getattr(key.budget, name) for name in KeyBudget.__slots__},
    }


def _section(body: dict[str, Any], name: str, fields: tuple[str, ...]) -> dict[str, Any]:
    value = body.get(name) or {}
    if not isinstance(value, dict):
        raise GatewayError(400, "invalid_request_error", f"{name}: must be an object", name)
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise GatewayError(400, "invalid_request_error", f"{name}: unknown field {unknown[0]!r}", name)
    for field, number in value.items():
        if number is not None and (not isinstance(number, int | float) or isinstance(number, bool)):
            raise GatewayError(400, "invalid_request_error", f"{name}.{field}: must be a number", name)
    return value


async def _create(policies: Policies, exchange: Exchange) -> None:
    assert policies.keys is not None and policies.auth is not None
    body = parse_json_body(await exchange.body(_MAX_BODY))
    name = body.get("name")
    if not isinstance(name, str):
        raise GatewayError(400, "invalid_request_error", "name: field required (a string)", "name")
    models = body.get("allowed_models") or []
    if not isinstance(models, list) or not all(isinstance(model, str) for model in models):
        raise GatewayError(400, "invalid_request_error", "allowed_models: must be a list of names")
    limits = _section(body, "limits", KeyLimits.__slots__)
    budget = _section(body, "budget", KeyBudget.__slots__)
    if any(value is not None and not isinstance(value, int) for value in limits.values()):
        raise GatewayError(400, "invalid_request_error", "limits: must be whole numbers", "limits")
    try:
        created = await policies.keys.create(
            name, allowed_models=models, limits=KeyLimits(**limits), budget=KeyBudget(**budget)
        )
    except UserError as exc:
        raise GatewayError(400, "invalid_request_error", exc.message, exc.field) from None
    policies.auth.opened()
    answer = {**key_to_json(created.key), "key": created.plaintext}
    await exchange.send_bytes(201, orjson.dumps(answer))


async def admin_keys(core: GatewayCore, exchange: Exchange) -> None:
    """Answer one admin request (the admin key is checked first)."""
    policies = core.check_admin(exchange.credential())
    assert policies.keys is not None and policies.auth is not None
    method, path = exchange.method, exchange.path
    if path == ADMIN_PATH and method == "POST":
        await _create(policies, exchange)
    elif path == ADMIN_PATH and method == "GET":
        keys = await policies.keys.list()
        await exchange.send_bytes(200, orjson.dumps({"data": [key_to_json(key) for key in keys]}))
    elif path.startswith(ADMIN_PATH + "/") and path.endswith(webhook_secrets.SUFFIX) and method == "POST":
        owner = path[len(ADMIN_PATH) + 1 : -len(webhook_secrets.SUFFIX)]
        await webhook_secrets.create_webhook_secret(core, policies, exchange, owner)
    elif path.startswith(ADMIN_PATH + "/") and method == "DELETE":
        key_id = path.removeprefix(ADMIN_PATH + "/")
        if await policies.keys.get(key_id) is None:
            raise GatewayError(404, "not_found_error", f"no API key with id {key_id!r}")
        key = await policies.keys.revoke(key_id)
        policies.auth.forget(key_id)
        await exchange.send_bytes(200, orjson.dumps(key_to_json(key)))
    else:
        raise GatewayError(405, "invalid_request_error", f"{method} is not allowed on {path}")

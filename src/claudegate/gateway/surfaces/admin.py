"""The admin API for gateway keys: ``POST /admin/keys``, ``GET /admin/keys``, ``PATCH /admin/keys/{id}``
(limits and budget), ``DELETE /admin/keys/{id}``, and ``POST /admin/keys/{id}/webhook-secret`` (see
``webhook_secrets``). Keys are changed through the core's ``KeyAdmin``, as the dashboard changes them.

Every call needs the admin key (``auth.admin_key``), compared in constant time. A created key's
plaintext is in the ``POST`` answer only; the database keeps its hash.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, KeyAdmin, parse_json_body, shown
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


async def _create(keys: KeyAdmin, exchange: Exchange) -> None:
    body = parse_json_body(await exchange.body(_MAX_BODY))
    name = body.get("name")
    if not isinstance(name, str):
        raise GatewayError(400, "invalid_request_error", "name: field required (a string)", "name")
    models = body.get("allowed_models") or []
    if not isinstance(models, list) or not all(isinstance(model, str) for model in models):
        raise GatewayError(400, "invalid_request_error", "allowed_models: must be a list of names")
    limits, budget = _limits(body), _budget(body)
    created = await keys.create(
        name, allowed_models=models, limits=KeyLimits(**limits), budget=KeyBudget(**budget)
    )
    answer = {**key_to_json(created.key), "key": created.plaintext}
    await exchange.send_bytes(201, orjson.dumps(answer))


def _limits(body: dict[str, Any]) -> dict[str, Any]:
    limits = _section(body, "limits", KeyLimits.__slots__)
    if any(value is not None and not isinstance(value, int) for value in limits.values()):
        raise GatewayError(400, "invalid_request_error", "limits: must be whole numbers", "limits")
    return limits


def _budget(body: dict[str, Any]) -> dict[str, Any]:
    return _section(body, "budget", KeyBudget.__slots__)


async def _update(keys: KeyAdmin, exchange: Exchange, key_id: str) -> None:
    """``PATCH``: the fields given in ``limits`` and ``budget`` replace the key's (null: unlimited)."""
    body = parse_json_body(await exchange.body(_MAX_BODY))
    unknown = sorted(set(body) - {"limits", "budget"})
    if unknown:
        field = shown(unknown[0], 40)
        raise GatewayError(400, "invalid_request_error", f"{field}: unknown field (limits, budget)", field)
    limits, budget = _limits(body), _budget(body)
    key = await keys.get(key_id)
    changed = await keys.update(
        key_id,
        limits=replace(key.limits, **limits) if "limits" in body else None,
        budget=replace(key.budget, **budget) if "budget" in body else None,
    )
    await exchange.send_bytes(200, orjson.dumps(key_to_json(changed)))


async def admin_keys(core: GatewayCore, exchange: Exchange) -> None:
    """Answer one admin request (the admin key is checked first)."""
    policies = core.check_admin(exchange.credential())
    keys = KeyAdmin(policies)
    method, path = exchange.method, exchange.path
    key_id = path.removeprefix(ADMIN_PATH + "/") if path.startswith(ADMIN_PATH + "/") else None
    if path == ADMIN_PATH and method == "POST":
        await _create(keys, exchange)
    elif path == ADMIN_PATH and method == "GET":
        listed = [standing.key for standing in await keys.standings()]
        await exchange.send_bytes(200, orjson.dumps({"data": [key_to_json(key) for key in listed]}))
    elif key_id is not None and path.endswith(webhook_secrets.SUFFIX) and method == "POST":
        owner = key_id.removesuffix(webhook_secrets.SUFFIX)
        await webhook_secrets.create_webhook_secret(core, policies, exchange, owner)
    elif key_id is not None and "/" not in key_id and method == "PATCH":
        await _update(keys, exchange, key_id)
    elif key_id is not None and method == "DELETE":
        await exchange.send_bytes(200, orjson.dumps(key_to_json(await keys.revoke(key_id))))
    else:
        raise GatewayError(405, "invalid_request_error", f"{method} is not allowed on {path}")

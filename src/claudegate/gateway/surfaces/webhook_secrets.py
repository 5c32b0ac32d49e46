"""``POST /admin/keys/{id}/webhook-secret``: a new webhook signing secret for a key (or a JWT
subject, ``jwt:<subject>``), shown in this answer only.

The body may set ``overlap`` (seconds the previous secret keeps signing; default
``webhooks.rotation_overlap``). Deliveries carry a signature by each secret while both sign.
"""

from __future__ import annotations

import orjson

from claudegate.errors import UserError
from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError, parse_json_body
from claudegate.gateway.core._policies import Policies
from claudegate.gateway.webhooks import UnknownOwner, secret_owner

__all__ = ["SUFFIX", "create_webhook_secret"]

SUFFIX = "/webhook-secret"
_MAX_BODY = 4 * 1024


async def create_webhook_secret(
    core: GatewayCore, policies: Policies, exchange: Exchange, owner: str
) -> None:
    """Answer the ``POST`` (the admin key was checked by the caller)."""
    assert policies.keys is not None
    raw = await exchange.body(_MAX_BODY)
    body = parse_json_body(raw) if raw.strip() else {}
    overlap = body.get("overlap")
    if overlap is not None and (
        not isinstance(overlap, int | float) or isinstance(overlap, bool) or overlap < 0
    ):
        raise GatewayError(
            400, "invalid_request_error", "overlap: must be a number of seconds ≥ 0", "overlap"
        )
    try:
        owner = await secret_owner(policies.keys, owner)
    except UnknownOwner as exc:
        raise GatewayError(404, "not_found_error", exc.message) from None
    except UserError as exc:
        raise GatewayError(400, "invalid_request_error", exc.message) from None
    created = await core.webhooks.create_secret(owner, overlap)
    previous = created.previous_expires_at
    answer = {
        "owner": created.owner,
        "secret": created.secret,
        "created_at": created.created_at.isoformat(),
        "previous_secret_expires_at": previous.isoformat() if previous is not None else None,
    }
    await exchange.send_bytes(201, orjson.dumps(answer), extra=[(b"cache-control", b"no-store")])

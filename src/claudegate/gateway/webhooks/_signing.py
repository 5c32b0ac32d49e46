"""Standard Webhooks signatures, made and checked by the maintained ``standardwebhooks`` package.

A secret is ``whsec_`` and the base64 of 24 to 64 random bytes. Every delivery is signed with each
secret active for its owner (two while a rotation overlaps), so a receiver that knows either
verifies it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from claudegate.errors import UserError

__all__ = [
    "SECRET_PREFIX",
    "SigningSecret",
    "WebhookVerificationError",
    "check_secret",
    "new_secret",
    "signature_header",
    "verify",
]

SECRET_PREFIX = "whsec_"
_MIN_BYTES, _MAX_BYTES = 24, 64


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One ``whsec_…`` secret and how long it signs; its value never appears in a repr."""

    value: str = field(repr=False)
    created_at: datetime | None = None
    expires_at: datetime | None = None
    """When it stops signing (None: until a newer one replaces it)."""


def new_secret() -> str:
    """A fresh ``whsec_…`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def check_secret(text: str, field: str = "secret") -> str:
    """``text`` as a ``whsec_…`` secret, or ``UserError`` naming ``field`` (never echoing the value)."""
    body = text.strip().removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise UserError(f"{field}: not a webhook secret (whsec_ and base64)", field=field) from None
    if not _MIN_BYTES <= len(raw) <= _MAX_BYTES:
        raise UserError(
            f"{field}: a webhook secret holds {_MIN_BYTES} to {_MAX_BYTES} bytes, this one {len(raw)}",
            field=field,
        )
    return SECRET_PREFIX + body


def signature_header(
    secrets: Sequence[SigningSecret], webhook_id: str, timestamp: datetime, body: bytes
) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>`` for every secret, space-separated."""
    return " ".join(Webhook(secret.value).sign(webhook_id, timestamp, body) for secret in secrets)


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> Any:
    """The decoded payload when ``headers`` carry a valid signature of ``body`` by ``secret`` (and a
    timestamp within the package's five minutes); ``WebhookVerificationError`` otherwise."""
    return Webhook(secret).verify(body, dict(headers))

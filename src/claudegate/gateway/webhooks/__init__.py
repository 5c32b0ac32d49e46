"""Signed webhooks by the Standard Webhooks spec: one attempt per ``Webhooks.deliver`` call, per-key
secrets with rotation, the SSRF guard, the retry schedule and endpoints disabled by a 410.

See docs/webhooks.md. Scheduling deliveries and their log belong to the job engine.
"""

from __future__ import annotations

from claudegate.gateway._config import WEBHOOK_SCHEDULE, WebhookSettings
from claudegate.gateway.webhooks._attempt import WebhookAttempt
from claudegate.gateway.webhooks._guard import AddressPolicy, Refused
from claudegate.gateway.webhooks._signing import (
    SigningSecret,
    WebhookVerificationError,
    check_secret,
    new_secret,
    verify,
)
from claudegate.gateway.webhooks._webhooks import CreatedSecret, UnknownOwner, Webhooks, secret_owner

__all__ = [
    "WEBHOOK_SCHEDULE",
    "AddressPolicy",
    "CreatedSecret",
    "Refused",
    "SigningSecret",
    "UnknownOwner",
    "WebhookAttempt",
    "WebhookSettings",
    "WebhookVerificationError",
    "Webhooks",
    "check_secret",
    "new_secret",
    "secret_owner",
    "verify",
]

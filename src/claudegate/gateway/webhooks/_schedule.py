"""When to try a webhook again: the Standard Webhooks schedule (immediately, 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h), or the configured one, scaled by ``webhooks.schedule_scale``."""

from __future__ import annotations

from claudegate.gateway._config import WEBHOOK_SCHEDULE, WebhookSettings

__all__ = ["WEBHOOK_SCHEDULE", "retry_delay"]


def retry_delay(settings: WebhookSettings, attempts_made: int) -> float | None:
    """Seconds to wait before the next attempt after ``attempts_made`` of them (0: before the first);
    None once the schedule is exhausted (give up)."""
    if attempts_made < 0:
        raise ValueError("attempts_made must not be negative")
    if attempts_made >= len(settings.schedule):
        return None
    return settings.schedule[attempts_made] * settings.schedule_scale

"""The dashboard's HTML forms as values: a URL-encoded body read once, and a key's limits and budget
from its fields (blank: unlimited), or a 400 naming the bad field."""

from __future__ import annotations

import math
from urllib.parse import parse_qs

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayError, shown
from claudegate.store import KeyBudget, KeyLimits

__all__ = ["MAX_FORM", "Form", "key_budget", "key_limits", "model_names", "read_form"]

MAX_FORM = 16 * 1024

Form = dict[str, str]


async def read_form(exchange: Exchange) -> Form:
    """The body's fields (``application/x-www-form-urlencoded``), each field's first value."""
    kind = (exchange.header(b"content-type") or "").split(";")[0].strip().lower()
    raw = await exchange.body(MAX_FORM)
    if raw and kind != "application/x-www-form-urlencoded":
        raise GatewayError(415, "invalid_request_error", "a dashboard form is sent URL-encoded")
    found = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in found.items()}


def _bad(field: str, message: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", f"{field}: {message}", field)


def _whole(form: Form, field: str) -> int | None:
    text = form.get(field, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise _bad(field, f"{shown(text, 20)!r} is not a whole number ≥ 0 (blank: unlimited)")
    return int(text)


def _dollars(form: Form, field: str) -> float | None:
    text = form.get(field, "").strip().removeprefix("$")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise _bad(field, f"{shown(text, 20)!r} is not an amount in dollars ≥ 0 (blank: uncapped)")
    return value


def key_limits(form: Form) -> KeyLimits:
    """``requests_per_minute`` … ``concurrent_requests`` fields as limits."""
    return KeyLimits(**{name: _whole(form, name) for name in KeyLimits.__slots__})


def key_budget(form: Form) -> KeyBudget:
    """``cost_per_day`` and ``cost_per_month`` fields as a budget."""
    return KeyBudget(**{name: _dollars(form, name) for name in KeyBudget.__slots__})


def model_names(form: Form) -> list[str]:
    """``allowed_models``: names separated by commas or white space (none: every model)."""
    return [name for name in form.get("allowed_models", "").replace(",", " ").split() if name]

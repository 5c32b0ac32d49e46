"""Sampling parameters as real clients send them, made acceptable to the models served today.

Two habits of widespread clients fail against current Claude models:

- **"Unset" sentinels.** LangChain's JavaScript ``ChatAnthropic`` (inside n8n's Anthropic Chat
  Model node, among others) sends ``top_k: -1`` and ``top_p: -1`` on every call, the legacy API's
  way of saying "not set".
- **Both samplers at once.** Models released since Claude Opus 4.1 answer 400 "`temperature` and
  `top_p` cannot both be specified for this model" when both are given, whatever their values
  (``-1`` included); many clients always send both.

On a route with ``sampling: {normalize: true}`` (the default) the core therefore, before any
upstream sees the request:

1. drops ``top_k`` and ``top_p`` when they are ``-1``;
2. when ``temperature`` and ``top_p`` are still both given, keeps ``temperature`` and drops
   ``top_p`` (temperature is the one the API's documentation says to adjust).

What it did is reported to the client in the ``x-claudegate-normalized`` header, one note per
change, ``; `` between them (``top_k=-1 dropped (unset); top_p=-1 dropped (unset)``). A request
that needs none of this is left as it is, its bytes too.
"""

from __future__ import annotations

from typing import Any

from claudegate.gateway.core._call import Call

__all__ = ["NORMALIZED_HEADER", "normalize_sampling", "sampling_notes"]

NORMALIZED_HEADER = "x-claudegate-normalized"
_UNSET = -1
_SENTINEL_KEYS = ("top_k", "top_p")


def _is_unset(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == _UNSET


def sampling_notes(request: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``request`` with the rules applied (the same object when nothing changed) and a note for
    each change."""
    notes: list[str] = []
    dropped: list[str] = []
    for key in _SENTINEL_KEYS:
        if _is_unset(request.get(key)):
            dropped.append(key)
            notes.append(f"{key}=-1 dropped (unset)")
    if request.get("temperature") is not None and request.get("top_p") is not None and "top_p" not in dropped:
        dropped.append("top_p")
        notes.append("top_p dropped (temperature given)")
    if not dropped:
        return request, notes
    return {key: value for key, value in request.items() if key not in dropped}, notes


def normalize_sampling(call: Call) -> None:
    """Apply the rules to ``call``'s request; when anything changed, its raw bytes are no longer
    forwarded and the answer carries ``x-claudegate-normalized``."""
    request, notes = sampling_notes(call.request)
    if request is call.request:
        return
    call.request = request
    call.raw = None
    call.outcome.headers.append((NORMALIZED_HEADER, "; ".join(notes)))

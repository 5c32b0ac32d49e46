"""Reasoning requests: OpenAI ``reasoning_effort`` / ``reasoning`` / ``thinking`` <-> Anthropic ``thinking``.

An effort becomes a thinking budget by ``EFFORT_BUDGETS``; a budget becomes the effort whose
budget it is, else the nearest of ``low`` / ``medium`` / ``high`` at or above it. OpenAI counts
reasoning inside ``max_completion_tokens`` as Anthropic counts thinking inside ``max_tokens``, so
an explicit maximum stays the maximum and the budget is cut to fit below it (thinking is left off
when fewer than ``MIN_BUDGET`` tokens would remain for it); with no explicit maximum, the budget
is added to the default one, so thinking does not eat the answer.
"""

from __future__ import annotations

from typing import Any

from claudegate.translate._errors import fail

__all__ = ["EFFORT_BUDGETS", "MIN_BUDGET", "reasoning_effort_of_thinking", "thinking_of_chat_request"]

EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
"""Thinking ``budget_tokens`` for each OpenAI ``reasoning_effort`` (``none`` turns thinking off)."""

MIN_BUDGET = 1024
"""The smallest ``budget_tokens`` Anthropic accepts."""

_EFFORT_BY_BUDGET = {budget: effort for effort, budget in EFFORT_BUDGETS.items()}
_THINKING_TYPES = ("enabled", "disabled", "adaptive")


def thinking_of_chat_request(
    body: dict[str, Any], max_tokens: int, *, explicit: bool
) -> tuple[dict[str, Any] | None, int]:
    """The Anthropic ``thinking`` an OpenAI request asks for, and the ``max_tokens`` to send with it.

    Read, first found wins: ``thinking`` (Anthropic's own object, as Anthropic's OpenAI-compatible
    endpoint accepts it), ``reasoning`` (``effort``, or ``max_tokens`` as an exact budget, or
    ``enabled``), ``reasoning_effort``. ``explicit``: the client set ``max_tokens`` itself.
    """
    thinking = body.get("thinking")
    if thinking is not None:
        return _anthropic_thinking(thinking), _room(thinking, max_tokens, explicit)
    budget = _budget(body)
    if budget is None:
        return None, max_tokens
    if not explicit:
        return {"type": "enabled", "budget_tokens": budget}, max_tokens + budget
    budget = min(budget, max_tokens - 1)
    if budget < MIN_BUDGET:
        return None, max_tokens
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def reasoning_effort_of_thinking(thinking: Any) -> str | None:
    """The OpenAI ``reasoning_effort`` for an Anthropic ``thinking`` (None unless it is ``enabled``).

    ``adaptive`` leaves the effort to the upstream's default, as it leaves it to the model.
    """
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return None
    exact = _EFFORT_BY_BUDGET.get(budget)
    if exact is not None:
        return exact
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGETS["medium"] else "high"


def _anthropic_thinking(thinking: Any) -> dict[str, Any]:
    if not isinstance(thinking, dict) or thinking.get("type") not in _THINKING_TYPES:
        raise fail("thinking", 'must be an object with type "enabled", "disabled" or "adaptive"')
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
            raise fail("thinking.budget_tokens", f"must be an integer of at least {MIN_BUDGET}")
    return thinking


def _room(thinking: dict[str, Any], max_tokens: int, explicit: bool) -> int:
    budget = thinking.get("budget_tokens")
    if explicit or thinking["type"] != "enabled" or not isinstance(budget, int):
        return max_tokens
    return max_tokens + budget


def _budget(body: dict[str, Any]) -> int | None:
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise fail("reasoning", "must be an object")
        exact = reasoning.get("max_tokens")
        if exact is not None:
            if not isinstance(exact, int) or isinstance(exact, bool) or exact < MIN_BUDGET:
                raise fail("reasoning.max_tokens", f"must be an integer of at least {MIN_BUDGET}")
            return exact
        if reasoning.get("effort") is not None:
            return _effort_budget(reasoning["effort"], "reasoning.effort")
        enabled = reasoning.get("enabled")
        if enabled is not None:
            return EFFORT_BUDGETS["medium"] if enabled is True else None
    effort = body.get("reasoning_effort")
    return None if effort is None else _effort_budget(effort, "reasoning_effort")


def _effort_budget(effort: Any, field: str) -> int | None:
    if effort == "none":
        return None
    budget = EFFORT_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        raise fail(field, f'must be "none" or one of {", ".join(repr(e) for e in EFFORT_BUDGETS)}')
    return budget

"""Tools that event-pipeline tests load by module name (``events.tool_modules``)."""

from __future__ import annotations

import threading

from claudegate.tools import ToolError, tool

CALLS: list[str] = []
"""Texts ``check_policy_violations`` was asked about, in order."""


@tool
def check_policy_violations(text: str) -> str:
    """Check a text against the content policy.

    Args:
        text: The text to check.
    """
    CALLS.append(text)
    return "violation: spam" if "buy now" in text else "no violation"


DOWN: list[bool] = [True]
"""Whether ``lookup_account``'s backend is down (a test flips it)."""

LOOKUPS: list[str] = []


@tool
def lookup_account(key: str) -> str:
    """Look an account up.

    Args:
        key: The account to look up.
    """
    LOOKUPS.append(key)
    if DOWN[0]:
        raise ToolError("the account backend is down")
    return f"account {key}: in good standing"


GATE = threading.Event()
"""``hold`` blocks its run (and so a one-worker gateway) until a test sets it."""


@tool
def hold(reason: str) -> str:
    """Hold until released.

    Args:
        reason: Why.
    """
    if not GATE.wait(60):
        raise ToolError("the gate was never opened")
    return "released"

"""Tools that event-pipeline tests load by module name (``events.tool_modules``)."""

from __future__ import annotations

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


@tool
def broken_lookup(key: str) -> str:
    """A lookup whose backend is down.

    Args:
        key: What to look up.
    """
    raise ToolError(f"the lookup backend is down ({key})")

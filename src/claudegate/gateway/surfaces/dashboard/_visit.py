"""One request of a logged-in browser, as the dashboard's pages and actions receive it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from claudegate.gateway._http import Exchange
from claudegate.gateway.surfaces.dashboard._forms import Form
from claudegate.gateway.surfaces.dashboard._sessions import Session

if TYPE_CHECKING:
    from claudegate.gateway.core._policies import Policies

__all__ = ["Action", "Visit"]


@dataclass(slots=True)
class Visit:
    """The request, the gateway's policies (keys, ledger), the session, whether htmx sent it (it
    wants a fragment, not a page), and a ``POST``'s form fields."""

    exchange: Exchange
    policies: Policies
    session: Session
    htmx: bool
    form: Form


Action = Callable[[Visit], Awaitable[None]]
"""A page or an action of a logged-in browser (the session and, for a change, the origin and the
CSRF token are checked before it runs)."""

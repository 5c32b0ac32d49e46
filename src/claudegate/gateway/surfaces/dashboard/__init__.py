"""The admin dashboard, ``/dashboard``: usage plots per key, model or deployment; deployment health,
breakers, streams and WebSocket connections live; keys, jobs, batches and dead-lettered events with
their actions. Server-rendered (Jinja2) with htmx and uPlot vendored into the package; a session
cookie after logging in with the admin key (``auth.admin_key``). See ``docs/dashboard.md``.

>>> surface = DashboardSurface(core, jobs, batches, events)   # GatewayApp builds and mounts it
"""

from __future__ import annotations

from claudegate.gateway.surfaces.dashboard._sessions import SessionSettings
from claudegate.gateway.surfaces.dashboard._surface import PREFIX, DashboardSurface

__all__ = ["PREFIX", "DashboardSurface", "SessionSettings"]

"""The dashboard surface: ``/dashboard`` and the pages, fragments and actions under it.

Every route but the login form and the static files needs a session; every ``POST`` needs the
dashboard's own origin and (logged in) the session's CSRF token (see ``_guard``). Without a
session a page redirects to the login form, an htmx fragment or the JSON answers 401. Data comes
from the core and the services (``usage_series``, ``live_state``, ``KeyAdmin``, the job engine,
batches, events); this module frames it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._http import JSON_TYPE, Exchange
from claudegate.gateway.core import (
    USAGE_GROUPINGS,
    USAGE_WINDOWS,
    GatewayCore,
    GatewayError,
    live_state,
    usage_series,
)
from claudegate.gateway.surfaces.dashboard._admin_pages import AdminPages
from claudegate.gateway.surfaces.dashboard._assets import Assets
from claudegate.gateway.surfaces.dashboard._forms import read_form
from claudegate.gateway.surfaces.dashboard._guard import (
    CSRF_FIELD,
    CSRF_HEADER,
    PAGE_HEADERS,
    clear_cookie,
    same_origin,
    session_cookie,
    session_id,
)
from claudegate.gateway.surfaces.dashboard._render import Pages
from claudegate.gateway.surfaces.dashboard._sessions import LoginThrottle, Session, Sessions, SessionSettings
from claudegate.gateway.surfaces.dashboard._visit import Action, Visit

if TYPE_CHECKING:
    from claudegate.gateway.batches import BatchService
    from claudegate.gateway.core._policies import Policies
    from claudegate.gateway.events import EventBus
    from claudegate.gateway.jobs import JobService

__all__ = ["PREFIX", "DashboardSurface"]

PREFIX = "/dashboard"
_STATIC = PREFIX + "/static/"
_LOGIN = PREFIX + "/login"
_PLOTS = (
    ("requests", "Requests"),
    ("input_tokens", "Input tokens (cache included)"),
    ("output_tokens", "Output tokens"),
    ("cost_usd", "Cost (USD)"),
    ("latency_ms_p50", "Latency p50 (ms)"),
    ("latency_ms_p95", "Latency p95 (ms)"),
    ("errors", "Errors"),
)
POLL_SECONDS = 5

Route = Callable[[GatewayCore, Exchange], Awaitable[None]]


class DashboardSurface:
    """The dashboard of one gateway: its overview and live panel here, its keys, jobs, batches and
    dead events in ``AdminPages``. ``clock`` (seconds since the epoch) times sessions and windows."""

    def __init__(
        self,
        core: GatewayCore,
        jobs: JobService,
        batches: BatchService,
        events: EventBus,
        *,
        settings: SessionSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        settings = settings or SessionSettings()
        self.sessions = Sessions(settings, clock)
        self.throttle = LoginThrottle(settings, clock)
        self.assets = Assets()
        self.pages = Pages(self.assets)
        self.admin = AdminPages(self.pages, jobs, batches, events)
        self._gets: dict[str, Action] = {
            PREFIX: self.overview,
            PREFIX + "/usage.json": self.usage,
            PREFIX + "/live": self.live,
            **self.admin.pages,
        }
        self._posts: dict[str, Action] = {PREFIX + "/logout": self.logout}

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` under ``/dashboard`` (None: no such route)."""
        if path.startswith(_STATIC) and method in ("GET", "HEAD"):
            return self.static
        if path == _LOGIN:
            return {"GET": self.login_form, "POST": self.login}.get(method)
        if method == "GET":
            action = self._gets.get(path)
            return self._guarded(action, change=False) if action is not None else None
        if method == "POST":
            action = self._posts.get(path) or self.admin.action(path)
            return self._guarded(action, change=True) if action is not None else None
        return None

    # -- answers ---------------------------------------------------------------------------------

    def _policies(self) -> Policies | None:
        """The policies when the dashboard can be used: an admin key is configured."""
        policies = self.core.policies
        if policies is None or policies.auth is None or policies.keys is None:
            return None
        return policies if policies.auth.has_admin_key else None

    async def _off(self, exchange: Exchange) -> None:
        await self.pages.send(exchange, "off.html", 404, title="Dashboard off")

    def _guarded(self, action: Action, *, change: bool) -> Route:
        async def handler(core: GatewayCore, exchange: Exchange) -> None:
            policies = self._policies()
            if policies is None:
                await self._off(exchange)
                return
            htmx = exchange.headers.get(b"hx-request") == b"true"
            wants_json = exchange.path.endswith(".json")
            if change and not same_origin(exchange):
                await self._refuse(
                    exchange, 403, "refused: this change did not come from the dashboard's own page"
                )
                return
            session = self.sessions.get(session_id(exchange))
            if session is None:
                if wants_json or htmx or change:
                    extra = [(b"hx-redirect", _LOGIN.encode())] if htmx else []
                    await self._refuse(exchange, 401, "log in to the dashboard first", extra, json=wants_json)
                else:
                    await self.pages.redirect(exchange, _LOGIN)
                return
            form = await read_form(exchange) if change else {}
            if change and not session.accepts(exchange.header(CSRF_HEADER) or form.get(CSRF_FIELD)):
                await self._refuse(
                    exchange, 403, "refused: the form's CSRF token is missing or stale; reload the page"
                )
                return
            visit = Visit(exchange, policies, session, htmx, form)
            try:
                await action(visit)
            except GatewayError as error:
                if exchange.response_started:
                    raise
                await self._refuse(exchange, error.status, error.message, json=wants_json, session=session)

        return handler

    async def _refuse(
        self,
        exchange: Exchange,
        status: int,
        message: str,
        extra: list[tuple[bytes, bytes]] | None = None,
        *,
        json: bool = False,
        session: Session | None = None,
    ) -> None:
        if json:
            body = orjson.dumps({"error": {"status": status, "message": message}})
            await exchange.send_bytes(status, body, JSON_TYPE, [*PAGE_HEADERS, *(extra or [])])
            return
        csrf = session.csrf if session is not None else None
        if exchange.headers.get(b"hx-request") == b"true":  # the refusal replaces the page's content
            extra = [*(extra or []), (b"hx-retarget", b"main"), (b"hx-reswap", b"innerHTML")]
            await self.pages.send(exchange, "_refused.html", status, extra, message=message)
            return
        await self.pages.send(
            exchange, "refused.html", status, extra, title="Refused", message=message, csrf=csrf
        )

    # -- login -----------------------------------------------------------------------------------

    async def login_form(self, core: GatewayCore, exchange: Exchange) -> None:
        if self._policies() is None:
            await self._off(exchange)
            return
        if self.sessions.get(session_id(exchange)) is not None:
            await self.pages.redirect(exchange, PREFIX)
            return
        await self.pages.send(exchange, "login.html", title="Log in", error=None)

    async def login(self, core: GatewayCore, exchange: Exchange) -> None:
        """The admin key, checked in constant time, opens a session; it is never kept or echoed."""
        if self._policies() is None:
            await self._off(exchange)
            return
        if not same_origin(exchange):
            await self._refuse(exchange, 403, "refused: log in from the dashboard's own page")
            return
        client = exchange.scope.get("client")
        address = str(client[0]) if client else "unknown"
        wait = self.throttle.refused(address)
        if wait is not None:
            retry = [(b"retry-after", str(int(wait)).encode())]
            error = f"too many failed logins from this address: try again in {int(wait)} s"
            await self.pages.send(exchange, "login.html", 429, retry, title="Log in", error=error)
            return
        form = await read_form(exchange)
        if not core.is_admin(form.get("admin_key", "").strip()):
            self.throttle.failed(address)
            await self.pages.send(
                exchange, "login.html", 401, title="Log in", error="that is not the admin key"
            )
            return
        value, _ = self.sessions.open()
        cookie = session_cookie(exchange, value, int(self.sessions.settings.lifetime))
        await self.pages.redirect(exchange, PREFIX, [cookie])

    async def logout(self, visit: Visit) -> None:
        self.sessions.close(session_id(visit.exchange))
        await self.pages.redirect(visit.exchange, _LOGIN, [clear_cookie(visit.exchange)])

    # -- overview --------------------------------------------------------------------------------

    async def overview(self, visit: Visit) -> None:
        """The plots' page: a window or grouping it does not know shows the default one."""
        query = parse_qs(visit.exchange.query)
        window = (query.get("window") or ["hour"])[0]
        window = window if window in USAGE_WINDOWS else "hour"
        group_by = (query.get("group_by") or ["model"])[0]
        group_by = group_by if group_by in USAGE_GROUPINGS else "model"
        series = await usage_series(visit.policies, window, group_by, self.sessions.clock())
        await self.pages.send(
            visit.exchange,
            "overview.html",
            title="Overview",
            csrf=visit.session.csrf,
            section="overview",
            series=series,
            plots=_PLOTS,
            live=live_state(self.core),
            poll=POLL_SECONDS,
        )

    async def usage(self, visit: Visit) -> None:
        """``usage.json?window=&group_by=``: the series the overview plots."""
        query = parse_qs(visit.exchange.query)
        window = (query.get("window") or ["hour"])[0]
        group_by = (query.get("group_by") or ["model"])[0]
        series = await usage_series(visit.policies, window, group_by, self.sessions.clock())
        await visit.exchange.send_bytes(200, orjson.dumps(series.json()), JSON_TYPE, list(PAGE_HEADERS))

    async def live(self, visit: Visit) -> None:
        """The live panel (htmx polls it): deployments, breakers, streams, connections."""
        await self.pages.send(visit.exchange, "_live.html", live=live_state(self.core))

    # -- static files ----------------------------------------------------------------------------

    async def static(self, core: GatewayCore, exchange: Exchange) -> None:
        name = exchange.path[len(_STATIC) :]
        found = self.assets.get(name)
        if found is None:
            message = self.assets.check() if name.startswith("vendor/") else None
            body = (message or f"no dashboard file {name!r}").encode()
            await exchange.send_bytes(404, body, (b"content-type", b"text/plain; charset=utf-8"))
            return
        headers = [
            (b"cache-control", b"public, max-age=31536000, immutable"),
            (b"x-content-type-options", b"nosniff"),
            (b"etag", f'"{found.version}"'.encode()),
        ]
        if exchange.header(b"if-none-match") == f'"{found.version}"':
            await exchange.send_bytes(304, b"", found.content_type, headers)
            return
        body = found.body if exchange.method == "GET" else b""
        await exchange.send_bytes(200, body, found.content_type, headers)

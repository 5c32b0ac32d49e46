"""The dashboard's pages and fragments, rendered from its Jinja2 templates (``templates/``) with
autoescaping on and undefined names an error. What a template shows comes from the surface; a
template never reaches into the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from claudegate.gateway._http import Exchange
from claudegate.gateway.surfaces.dashboard._assets import Assets
from claudegate.gateway.surfaces.dashboard._guard import PAGE_HEADERS

__all__ = ["HTML_TYPE", "TEMPLATES", "Pages"]

TEMPLATES = Path(__file__).parent / "templates"
HTML_TYPE = (b"content-type", b"text/html; charset=utf-8")


def _when(value: float | datetime | None) -> str:
    """A moment as ``2026-03-01 12:00:05`` (UTC), ``—`` for none."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


class Pages:
    """Renders templates for one dashboard (its assets give the static files' URLs)."""

    def __init__(self, assets: Assets) -> None:
        self.assets = assets
        self._environment: Environment | None = None

    @property
    def environment(self) -> Environment:
        if self._environment is None:
            environment = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=select_autoescape(["html"]),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.filters.update(when=_when, money=_money, number=_number)
            environment.globals["asset"] = self.assets.url
            self._environment = environment
        return self._environment

    def render(self, template: str, **context: Any) -> bytes:
        """The template filled in, as UTF-8."""
        context.setdefault("missing", self.assets.check())
        context.setdefault("csrf", None)
        return self.environment.get_template(template).render(**context).encode()

    async def send(
        self,
        exchange: Exchange,
        template: str,
        status: int = 200,
        extra: list[tuple[bytes, bytes]] | None = None,
        **context: Any,
    ) -> None:
        """Answer with a rendered page or fragment and the dashboard's headers."""
        body = self.render(template, **context)
        await exchange.send_bytes(status, body, HTML_TYPE, [*PAGE_HEADERS, *(extra or [])])

    async def redirect(
        self, exchange: Exchange, location: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """``303 See Other`` to ``location`` (after a form, or to the login page)."""
        headers = [*PAGE_HEADERS, (b"location", location.encode()), *(extra or [])]
        await exchange.send_bytes(303, b"", HTML_TYPE, headers)

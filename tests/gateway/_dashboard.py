"""Driving the dashboard over HTTP as a browser would: a cookie jar, its own ``Origin``, the CSRF
token read off the page."""

from __future__ import annotations

import re
from typing import Any

import requests

from tests.gateway import _wire

__all__ = ["ADMIN", "ANTHROPIC", "ASK", "HTMX", "Browser", "issue_key", "keyed_config"]

ADMIN = "admin-secret-for-dashboard-tests-0123456789"
ANTHROPIC = {"anthropic-version": "2023-06-01"}
ASK = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
HTMX = {"hx-request": "true"}
"""What htmx adds to its requests (the dashboard then answers with a fragment)."""
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def keyed_config(database: str, **extra: Any) -> dict[str, Any]:
    """The embedded defaults (the simulator, SQLite) with an admin key: all the dashboard needs."""
    return {
        "models": [{"name": "*", "deployments": [{"provider": "simulator"}]}],
        "auth": {"admin_key": "env:CG_TEST_DASHBOARD_ADMIN_KEY", "cache_seconds": 0},
        "storage": {"database_url": f"sqlite+aiosqlite:///{database}"},
        **extra,
    }


def issue_key(base_url: str, name: str, **fields: Any) -> dict[str, Any]:
    """A key issued through the admin API (its ``key`` is the secret)."""
    reply = _wire.call(
        base_url, "POST", "/admin/keys", {"name": name, **fields}, {"x-api-key": ADMIN, **ANTHROPIC}
    )
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.json()
    return created


class Browser:
    """A cookie jar on the dashboard, sending its own origin with each change (as a browser does);
    every answer is kept in ``seen`` (to check that the admin key is in none of them)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.seen: list[requests.Response] = []

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        url = self.base_url + path
        reply = self.http.get(url, headers=headers or {}, allow_redirects=False, timeout=30)
        self.seen.append(reply)
        return reply

    def post(
        self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """A form post from the dashboard's origin (``headers`` may replace it; an empty value: the
        header is not sent)."""
        sent = {"origin": self.base_url, **(headers or {})}
        sent = {name: value for name, value in sent.items() if value}
        url = self.base_url + path
        reply = self.http.post(url, data=data or {}, headers=sent, allow_redirects=False, timeout=30)
        self.seen.append(reply)
        return reply

    def login(self, key: str = ADMIN) -> requests.Response:
        return self.post("/dashboard/login", {"admin_key": key})

    def csrf(self, path: str = "/dashboard/keys") -> str:
        found = _CSRF.search(self.get(path).text)
        assert found is not None, "no CSRF token on the page"
        return found.group(1)

    def change(
        self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """A form post carrying the session's CSRF token."""
        return self.post(path, {"csrf_token": self.csrf(), **(data or {})}, headers)

"""What every dashboard request is held to: the session cookie, the same-origin rule and the CSRF
token for every change, and the headers every answer carries.

A change (any ``POST``) is refused with a 403 unless its ``Origin`` (or, without one, its
``Referer``) is the dashboard's own origin, and (once logged in) unless it carries the session's
CSRF token, in the ``csrf_token`` form field or the ``X-CSRF-Token`` header. The cookie is
``HttpOnly; SameSite=Strict; Path=/dashboard``, ``Secure`` when the request came over HTTPS (or
through a proxy that says so in ``X-Forwarded-Proto``).
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from claudegate.gateway._http import Exchange

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PAGE_HEADERS",
    "clear_cookie",
    "same_origin",
    "session_cookie",
    "session_id",
]

COOKIE = "cg_dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
PATH = "/dashboard"

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
"""Headers of every dashboard page, fragment and JSON answer: nothing inline runs, nothing frames it,
nothing is cached."""


def session_id(exchange: Exchange) -> str | None:
    """The session id the browser sent, or None."""
    raw = exchange.header(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _https(exchange: Exchange) -> bool:
    forwarded = (exchange.header(b"x-forwarded-proto") or "").split(",")[0].strip().lower()
    return exchange.scope.get("scheme") == "https" or forwarded == "https"


def session_cookie(exchange: Exchange, value: str, max_age: int) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header that keeps a session."""
    cookie = f"{COOKIE}={value}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    if _https(exchange):
        cookie += "; Secure"
    return (b"set-cookie", cookie.encode())


def clear_cookie(exchange: Exchange) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header that ends a session in the browser."""
    return session_cookie(exchange, "", 0)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def same_origin(exchange: Exchange) -> bool:
    """Whether the request was sent by a page of the dashboard's own origin (``Origin``, or
    ``Referer`` when the browser sent no ``Origin``; neither, or ``Origin: null``: refused)."""
    host = (exchange.header(b"host") or "").lower()
    if not host:
        return False
    scheme = str(exchange.scope.get("scheme", "http"))
    allowed = {f"{scheme}://{host}"}
    if _https(exchange):
        allowed.add(f"https://{host}")
    origin = exchange.header(b"origin")
    if origin is not None:  # "null" (a sandboxed or opaque page) is never ours
        return _origin(origin) in allowed
    referer = exchange.header(b"referer")
    return referer is not None and _origin(referer) in allowed

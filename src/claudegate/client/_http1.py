"""HTTP/1.1 wire pieces of ``HttpToolsTransport``: URL targets, request bytes, response headers."""

from __future__ import annotations

from typing import NamedTuple, TypeVar, overload
from urllib.parse import urlsplit

from claudegate.client._transport import Request
from claudegate.errors import UserError

__all__ = ["HIGH_WATER", "MAX_CACHED_URLS", "SLACK", "Headers", "Target", "encode_request", "parse_url"]

HIGH_WATER = 256 * 1024  # unread stream bytes past which the socket is not read (a slow reader)
MAX_CACHED_URLS = 1024
SLACK = 0.001  # timers may fire this early (clock resolution) and still count as due
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
OUR_HEADERS = FRAMING_HEADERS | {"host"}
_T = TypeVar("_T")


class Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    host_header: str
    path: str  # the request target: path and query


def parse_url(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise UserError(f"invalid URL: {exc}", field="url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise UserError("the URL must be absolute and start with http:// or https://", field="url")
    if parts.username is not None:
        raise UserError("credentials in the URL are not supported; send them in a header", field="url")
    path = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    if " " in path or not path.isprintable():
        raise UserError("the URL must not contain spaces or control characters", field="url")
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return Target(
        (scheme, host, port or default), name if port in (None, default) else f"{name}:{port}", path
    )


def encode_request(request: Request, target: Target) -> bytes:
    """Head and body as one buffer, so the request leaves in one write."""
    headers = request.headers
    lines = [f"{request.method} {target.path} HTTP/1.1\r\n"]
    if OUR_HEADERS.isdisjoint(map(str.lower, headers)):
        lines.append(f"host: {target.host_header}\r\n")
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    else:  # the framing is ours (it must match the bytes sent); a given host is kept
        if all(name.lower() != "host" for name in headers):
            lines.append(f"host: {target.host_header}\r\n")
        lines += [f"{n}: {v}\r\n" for n, v in headers.items() if n.lower() not in FRAMING_HEADERS]
    body = request.content
    if body is not None or request.method in BODY_METHODS:
        lines.append(f"content-length: {len(body) if body else 0}\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    # Every line added ends in exactly one CRLF; any other line break came from a header.
    if head.count("\n") != len(lines) or head.count("\r") != len(lines):
        raise UserError("header names and values must not contain line breaks", field="headers")
    return head.encode() + body if body else head.encode()


class Headers(dict[str, str]):
    """Response headers: lower-case keys, found by a name in any case; repeated headers joined."""

    __slots__ = ()

    def __missing__(self, key: str) -> str:
        if key.islower():
            raise KeyError(key)
        return self[key.lower()]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and dict.__contains__(self, key.lower()))

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...
    def get(self, key: str, default: object = None, /) -> object:
        value = dict.get(self, key)
        return dict.get(self, key.lower(), default) if value is None else value

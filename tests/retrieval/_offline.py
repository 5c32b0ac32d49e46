"""A socket guard: any connection to a host other than loopback is refused and remembered."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["offline"]


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # a unix socket path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within it, connecting or resolving anywhere but loopback raises; the attempts are listed."""
    attempts: list[str] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            attempts.append(f"connect {address!r}")
            raise OSError("network blocked by the test")
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _loopback(address):
            attempts.append(f"connect {address!r}")
            raise OSError("network blocked by the test")
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback((host,)):
            attempts.append(f"resolve {host!r}")
            raise socket.gaierror("network blocked by the test")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    try:
        yield attempts
    finally:
        monkeypatch.undo()

"""The SSRF guard: a webhook may reach only public addresses, checked on the address connected to.

A URL is refused when its scheme is not http or https, when its host is an address (or resolves to
one) that is loopback, private (RFC 1918, ULA, CGNAT), link-local (the ``169.254.169.254`` metadata
service included), unspecified, multicast, reserved or otherwise not globally routable, or an IPv6
form embedding such an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). A name is
refused when *any* of its addresses is.

The check sits in the HTTP client's resolver (``GuardedResolver``): the addresses it approves are
the very ones the connection is made to (with the name kept for ``Host`` and TLS SNI), so a name
that answers a public address to a first lookup and a private one to the next (DNS rebinding) is
caught at the lookup that counts. Networks in ``webhooks.allow_private`` pass.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

__all__ = ["AddressPolicy", "GuardedResolver", "Refused", "checked_url", "shown_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Hosts an HTTP client reads as legacy IPv4 forms (2130706433, 127.1, 0x7f.0.0.1): never a name.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The guard refused a webhook URL; the message names the host and why (never a query string)."""


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, for the forms that route to it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (
        int(address) >> 32 == 0 and int(address) > 1
    ):  # NAT64, and the deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is not public, or None when it is."""
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class AddressPolicy:
    """Which addresses a webhook may connect to: public ones, and the operator's allowed networks."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(text, strict=False) for text in allowed
        )

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to ``address`` is refused, or None when it may be made."""
        if self._allowed(address):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            inner = _embedded(address)
            if inner is not None and inner != address:
                if self._allowed(inner):
                    return None
                kind = _kind(inner)
                if kind is not None:
                    return f"{kind} (embedded {inner})"
        return _kind(address)


def shown_url(url: URL) -> str:
    """``url`` as errors and logs show it: scheme, host and port, without credentials, path or query."""
    return str(url.origin()) if url.absolute and url.host else "(no host)"


def checked_url(text: str, policy: AddressPolicy) -> URL:
    """``text`` as a URL a webhook may be sent to before any lookup (scheme, host, a literal
    address against ``policy``), or ``Refused``."""
    try:
        url = URL(text)
    except (ValueError, TypeError):
        raise Refused("not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise Refused(f"scheme {url.scheme or '(none)'!r} is not allowed: use http or https")
    host = url.raw_host
    if not host:
        raise Refused("the URL has no host")
    try:
        address: IPAddress = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if _NUMERIC_HOST.match(host):
            raise Refused(f"{host} is not a canonical address") from None
        return url
    reason = policy.refusal(address)
    if reason is not None:
        raise Refused(f"{address} is {reason}: not allowed for webhooks (webhooks.allow_private)")
    return url


class GuardedResolver(AbstractResolver):
    """Resolves a name, then refuses it when any address is not allowed by the policy."""

    def __init__(self, policy: AddressPolicy, resolver: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._resolver is None:
            self._resolver = ThreadedResolver()
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])
            reason = self._policy.refusal(address)
            if reason is not None:
                raise Refused(
                    f"{host} resolves to {address}, {reason}: not allowed for webhooks "
                    "(webhooks.allow_private)"
                )
        return results

    async def close(self) -> None:
        if self._resolver is not None:
            await self._resolver.close()

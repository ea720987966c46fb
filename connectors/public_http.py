"""HTTP clients for addresses a tenant supplies (a store's URL, a WordPress site, an outbound webhook target): they
reach public addresses only, so no tenant can point the platform at Vault, Redis, Postgres or a cloud's metadata
service.

The check runs on the address each connection actually connects to (aiohttp's `socket_factory` sees the resolved
address just before `connect`), so a name that resolves to a public address when checked and to a private one when
used (DNS rebinding) is refused too, as is every redirect hop and an IP literal. `check_public_url` resolves a URL up
front for a clear, early answer (creating a connector names the bad field); the socket check is what enforces it.

`allow_private=True` (BIZOSAAS_ALLOW_PRIVATE_URLS, development and tests only) admits loopback and private addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc

from events.errors import PermanentError


class NotPublicAddress(PermanentError, OSError):
    """The URL names, resolves to, or redirects to an address that is not public (loopback, private, link-local —
    cloud metadata lives there —, shared, reserved or multicast). Retrying cannot help; the URL must change."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return address.is_global and not address.is_multicast


def _refuse_unless_public(addr_info: tuple) -> socket.socket:
    family, type_, proto, _, sockaddr = addr_info
    address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # an IPv6 scope id is not part of the address
    if not is_public(address):
        raise NotPublicAddress(f"{address} is not a public address")
    return socket.socket(family=family, type=type_, proto=proto)


def public_session(
    allow_private: bool = False,
    resolver: aiohttp.abc.AbstractResolver | None = None,
    limit: int = 100,  # connections open at once (aiohttp's default)
    **session_kwargs,
) -> aiohttp.ClientSession:
    """A ClientSession that connects only to public addresses (any address when allow_private). `resolver` is
    aiohttp's own (its threaded default when None); whatever it answers, the address connected to is checked."""
    connector = aiohttp.TCPConnector(
        socket_factory=None if allow_private else _refuse_unless_public, resolver=resolver, limit=limit
    )
    return aiohttp.ClientSession(connector=connector, **session_kwargs)


def refused_address(exc: BaseException) -> NotPublicAddress | None:
    """The NotPublicAddress behind an aiohttp connection error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, NotPublicAddress):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


async def check_public_url(url: str, allow_private: bool = False) -> None:
    """Raise NotPublicAddress (or ValueError for a malformed URL) unless every address `url`'s host resolves to
    now is public. Early and readable; the connection-time check in public_session is the one that enforces it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"{parts.hostname} does not resolve: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not is_public(address):
            raise NotPublicAddress(f"{parts.hostname} resolves to {address}, which is not a public address")

"""Connections to the mail hosts a tenant names (its SMTP and IMAP servers), under the public-address rule
(connectors/public_http.py): a host resolving to loopback, private, link-local or other non-public addresses is
refused unless `allow_private` (BIZOSAAS_ALLOW_PRIVATE_URLS, development and tests), so no tenant can point the
platform's mail clients at Redis, Postgres or a cloud's metadata service.

The name is resolved once here and the socket connects to an address that was checked (never a second lookup that
could answer differently: DNS rebinding); TLS still verifies the certificate against the host's name.
"""

from __future__ import annotations

import ipaddress
import socket

from connectors.public_http import NotPublicAddress, is_public


def checked_addresses(host: str, port: int, allow_private: bool) -> list[tuple]:
    """getaddrinfo's answers for (host, port), every one public unless allow_private (NotPublicAddress names the
    first that is not); ValueError when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"{host} does not resolve: {exc.strerror}") from None
    if not allow_private:
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if not is_public(address):
                raise NotPublicAddress(f"{host} resolves to {address}, which is not a public address")
    return infos


def connect(host: str, port: int, allow_private: bool, timeout_s: float) -> socket.socket:
    """A blocking socket connected to one of `host`'s checked addresses (the first that answers)."""
    error: OSError | None = None
    for family, type_, proto, _, sockaddr in checked_addresses(host, port, allow_private):
        sock = socket.socket(family, type_, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host}:{port}: no address to connect to")

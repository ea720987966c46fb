"""Tenant-supplied URLs reach public addresses only: checked where each connection is made (DNS rebinding, redirects,
IP literals), with an early readable check for forms."""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
import aiohttp.abc
import pytest
from aiohttp import web
from factories import local_http_server

from connectors.public_http import NotPublicAddress, check_public_url, is_public, public_session, refused_address
from events.errors import is_transient

NOT_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_loopback_private_link_local_and_metadata_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_global_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


class Rebinding(aiohttp.abc.AbstractResolver):
    """A name server whose answer for a public-looking name is a loopback address (DNS rebinding)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
        return [dict(hostname=host, host="127.0.0.1", port=self.port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        pass


@pytest.fixture
async def local_site():
    hits = []

    async def hello(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/hello", hello)
    async with local_http_server(app) as base:
        yield base, hits


async def test_a_loopback_url_is_refused_when_connecting_and_admitted_only_when_allowed(local_site):
    base, hits = local_site
    async with public_session() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"{base}/hello")
    refused = refused_address(caught.value)
    assert isinstance(refused, NotPublicAddress) and not is_transient(refused)
    assert hits == []  # nothing reached the server
    async with public_session(allow_private=True) as session, session.get(f"{base}/hello") as reply:
        assert reply.status == 200 and hits == ["/hello"]


async def test_a_name_that_resolves_to_loopback_at_connect_time_is_refused(local_site):
    base, hits = local_site
    port = int(base.rsplit(":", 1)[1])
    async with public_session(resolver=Rebinding(port)) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"http://shop.example.com:{port}/hello")  # a public-looking name
    assert isinstance(refused_address(caught.value), NotPublicAddress)
    assert hits == []


async def test_the_early_check_names_the_address():
    with pytest.raises(NotPublicAddress, match=r"127\.0\.0\.1"):
        await check_public_url("http://127.0.0.1:8200/v1/secret")
    with pytest.raises(NotPublicAddress, match="localhost resolves to"):
        await check_public_url("https://localhost/wp-json/wc/v3/")
    with pytest.raises(ValueError, match="not an http"):
        await check_public_url("file:///etc/passwd")
    await check_public_url("http://127.0.0.1:8200/", allow_private=True)
    await check_public_url("https://8.8.8.8/")  # an IP literal resolves to itself, offline too

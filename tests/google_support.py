"""Helpers of the Google providers' tests (tests/test_sync_google_*.py): a connector made through the gateway with its
OAuth2 tokens in Vault as a finished authorization leaves them (token endpoint: the local server's), the shared Google
client pointed at the local server, a sync through the real Temporal sync workflow, and records read over REST."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from factories import local_http_server
from gateway_helpers import Gateway
from providers.google_server import GoogleApi

from connectors import oauth
from connectors.base import ApiCall
from connectors.credentials import VaultSecrets
from connectors.providers.google_common import client
from connectors.registry import get_facts
from connectors.temporal.client import start_sync
from connectors.temporal.shared import SyncResult

TIMEOUT_S = 90.0  # a workflow's activities and the projector in a row, on a slow machine


def point_at(server: GoogleApi, monkeypatch) -> None:
    """Google's API hosts replaced by the local server's (never a tenant's setting: the token goes there)."""
    monkeypatch.setattr(client, "API_ROOT", server.url)


@contextlib.asynccontextmanager
async def served(server: GoogleApi, monkeypatch):
    """The local Google API on a free port, the shared client pointed at it, for the block's duration."""
    async with local_http_server(server.app()) as url:
        server.url = url
        point_at(server, monkeypatch)
        yield server


def api_call(server: GoogleApi, provider: str, config: dict[str, Any], token: str | None = None, **secrets) -> ApiCall:
    stored = {oauth.ACCESS_TOKEN: token or server.issue_access(), oauth.EXPIRES_AT: time.time() + 3600, **secrets}
    return ApiCall(get_facts(provider), config, stored, allow_private=True)


async def connect(
    gw: Gateway, vault, server: GoogleApi, provider: str, config: dict[str, Any], **secrets: str
) -> tuple[str, str, str]:
    """A tenant and its connector, created over REST with the OAuth client (and `secrets`); the tokens a finished
    authorization keeps are written to Vault. Answers (tenant, API key, connector id)."""
    tenant, key = await gw.create_tenant()
    given = {"client_id": server.client_id, "client_secret": server.client_secret, **secrets}
    body = {"provider": provider, "name": provider, "config": config, "secrets": given}
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    connector_id = (await resp.json())["id"]
    store = VaultSecrets(vault.addr, vault.token, cache_s=0)
    held = await store.read(tenant, connector_id) or {}
    tokens = {
        oauth.ACCESS_TOKEN: server.issue_access(),
        oauth.EXPIRES_AT: time.time() + 3600,
        oauth.REFRESH_TOKEN: server.oauth.issue_refresh(),
        oauth.TOKEN_URL: server.url + "/token",
    }
    await store.write(tenant, connector_id, held | tokens)
    return tenant, key, connector_id


async def temporal_sync(temporal, tenant: str, connector_id: str, resource: str, full: bool = False) -> SyncResult:
    """One sync of the resource through the connectors' sync workflow on the Temporal dev server, to its end."""
    workflow_id = await start_sync(temporal, tenant, connector_id, resource, full=full)
    return await temporal.get_workflow_handle(workflow_id, result_type=SyncResult).result()


async def records(gw: Gateway, key: str, kind: str, deleted: bool = False) -> dict[str, dict]:
    """Every record of a kind over REST (page by page), by external id."""
    found: dict[str, dict] = {}
    params = {"limit": "200", **({"include_deleted": "true"} if deleted else {})}
    while True:
        resp = await gw.get(f"/v1/records/{kind}", params=params, headers=gw.bearer(key))
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        found |= {r["external_id"]: r for r in body["items"]}
        if not body.get("next"):
            return found
        params["cursor"] = body["next"]


async def counted(gw: Gateway, key: str, kind: str, count: int) -> dict[str, dict] | None:
    """The records of a kind once there are `count` of them (for wait_for), else None."""
    held = await records(gw, key, kind)
    return held if len(held) == count else None


async def deleted_ids(gw: Gateway, key: str, kind: str) -> list[str]:
    return [i for i, r in (await records(gw, key, kind, deleted=True)).items() if r["deleted"]]

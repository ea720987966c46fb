"""A disconnect revokes the OAuth2 grant at the provider before the secrets are destroyed, on the real Temporal dev
server (the ConnectorDisconnect workflow), OpenBao, Redis, Postgres, the gateway and the local providers: Zoho's
accounts server (tests/oauth_server.py, behind the local Zoho CRM) and the local Shopify. After `DELETE
/v1/connectors/{id}` the token is refused by the provider, every secret version is gone from OpenBao, the workflow's
history holds no secret, and the connector's set-up ends `disconnected`. A provider that is down at revocation is
retried a few times, then the disconnect completes and says so on the connector."""

from __future__ import annotations

import json
import uuid

import aiohttp
import hvac
import hvac.exceptions
import pytest
from factories import local_http_server, running, served, wait_for
from gateway_helpers import Gateway
from providers.shopify_server import ShopifyShop
from providers.zoho_server import ZohoCrm
from temporal_history import history_text

from connectors import oauth
from connectors.credentials import VaultSecrets
from connectors.registry import get_facts
from connectors.temporal.shared import DisconnectInput, disconnect_workflow_id
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.errors import TransientError
from events.streams import DEFAULT_PARTITIONS

TIMEOUT_S = 90.0
SHOPIFY_TOKEN_PATH = "/admin/oauth/access_token"


@pytest.fixture
async def crm():
    made = ZohoCrm()
    async with local_http_server(made.app()) as url:
        made.url = made.oauth.url = url
        yield made


@pytest.fixture
async def shop():
    async with served(ShopifyShop()) as made:
        yield made


@pytest.fixture
def secrets(vault) -> VaultSecrets:
    return VaultSecrets(vault.addr, vault.token, cache_s=0)


def groups(pool, redis, temporal) -> list:
    return [commands_group(RunnerContext(pool, redis, temporal)), projector_group(pool, DEFAULT_PARTITIONS)]


async def make_connector(gw: Gateway, admin, secrets: VaultSecrets, provider: str, config: dict, values: dict):
    """A connector holding these secrets (tokens as the OAuth2 callback stores them), made as
    tests/test_zoho_notifications.py makes one: (tenant, key, connector id)."""
    tenant, key = await gw.create_tenant()
    connector = "con_" + uuid.uuid4().hex
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, $3, 'revoked', $4)",
        tenant,
        connector,
        provider,
        json.dumps(config),
    )
    await secrets.write(tenant, connector, values)
    return tenant, key, connector


async def disconnect(gw: Gateway, key: str, connector: str) -> dict:
    """DELETE the connector and wait for its disconnect command to finish; answers the command."""
    assert (await gw.delete(f"/v1/connectors/{connector}", headers=gw.bearer(key))).status == 204

    async def done() -> dict | None:
        resp = await gw.get("/v1/commands", params={"connector_id": connector}, headers=gw.bearer(key))
        found = [c for c in (await resp.json())["items"] if c["type"] == "connector.disconnect.v1"]
        return found[0] if found and found[0]["status"] in ("completed", "failed", "rejected") else None

    return await wait_for(done, timeout_s=TIMEOUT_S)


async def setup_of(gw: Gateway, key: str, connector: str) -> dict | None:
    body = await (await gw.get(f"/v1/connectors/{connector}", headers=gw.bearer(key))).json()
    setup = body["health"]["setup"]
    return setup if setup and setup["status"] == "disconnected" else None


def vault_forgot(vault, tenant: str, connector: str) -> bool:
    """No version and no metadata left at the connector's path (not only the latest version deleted)."""
    bao = hvac.Client(url=vault.addr, token=vault.token)
    try:
        bao.secrets.kv.v2.read_secret_metadata(path=VaultSecrets("", "").path(tenant, connector))
    except hvac.exceptions.InvalidPath:
        return True
    return False


async def status_of(url: str, headers: dict[str, str], params: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers, params=params) as resp:
        return resp.status


async def zoho_status(crm: ZohoCrm, access: str) -> int:
    headers = {"Authorization": f"Zoho-oauthtoken {access}"}
    return await status_of(f"{crm.url}/crm/v8/Leads", headers, {"fields": "Last_Name"})


async def shopify_status(shop: ShopifyShop, token: str) -> int:
    return await status_of(f"{shop.url}/admin/api/2025-07/orders.json", {"X-Shopify-Access-Token": token})


def zoho_values(crm: ZohoCrm) -> dict:
    access, refresh = crm.oauth.issue_pair()
    return {
        "client_id": crm.client_id,
        "client_secret": crm.client_secret,
        oauth.ACCESS_TOKEN: access,
        oauth.EXPIRES_AT: 4_000_000_000,
        oauth.REFRESH_TOKEN: refresh,
        oauth.TOKEN_URL: crm.url + "/oauth/v2/token",
    }


async def test_zoho_refresh_token_is_revoked_then_every_secret_version_destroyed(
    gw: Gateway, crm, redis, pool, temporal, admin, secrets, vault
):
    values = zoho_values(crm)
    access, refresh = values[oauth.ACCESS_TOKEN], values[oauth.REFRESH_TOKEN]
    tenant, key, connector = await make_connector(gw, admin, secrets, "zoho-crm", {"api_domain": crm.url}, values)
    await secrets.write(tenant, connector, values)  # a second version, so "every version" means something
    assert await zoho_status(crm, access) != 401
    async with running(redis, groups(pool, redis, temporal)):
        command = await disconnect(gw, key, connector)
        assert command["status"] == "completed", command
        assert "access revoked at Zoho CRM" in command["reason"] and "secrets destroyed" in command["reason"]
        setup = await wait_for(lambda: setup_of(gw, key, connector), timeout_s=TIMEOUT_S)
    assert setup["step"] is None and setup["reason"] is None  # everything was done at the provider

    # revoked at Zoho's accounts server with the refresh token: it and its access token are refused now
    (revocation,) = [r for r in crm.log if r.path == "/oauth/v2/token/revoke"]
    assert (revocation.method, revocation.query) == ("POST", {"token": refresh})
    assert refresh not in crm.oauth.refresh_tokens
    assert await zoho_status(crm, access) == 401
    # then the secrets went, every version; the workflow's history carries none of them
    assert vault_forgot(vault, tenant, connector)
    history = await history_text(temporal, disconnect_workflow_id(command["id"]))
    for secret in (access, refresh, crm.client_secret):
        assert secret not in history and secret not in command["reason"]


async def test_a_provider_down_at_revocation_is_retried_then_the_disconnect_completes_and_says_so(
    gw: Gateway, crm, redis, pool, temporal, admin, secrets, vault
):
    values = zoho_values(crm)
    tenant, key, connector = await make_connector(gw, admin, secrets, "zoho-crm", {"api_domain": crm.url}, values)
    crm.oauth.fail_with = 503
    async with running(redis, groups(pool, redis, temporal)):
        command = await disconnect(gw, key, connector)
        setup = await wait_for(lambda: setup_of(gw, key, connector), timeout_s=TIMEOUT_S)
    assert command["status"] == "completed", command
    assert "access not revoked" in command["reason"] and "secrets destroyed" in command["reason"]
    assert crm.oauth.revoke_calls == DisconnectInput("t", "c").max_attempts  # retried, then given up
    # on the connector: what was not done at the provider, and what to do there
    assert setup["step"] == "revoke" and "503" in setup["reason"] and "by hand" in setup["reason"], setup
    assert values[oauth.REFRESH_TOKEN] not in setup["reason"]
    assert vault_forgot(vault, tenant, connector)  # the secrets go all the same


async def test_shopify_oauth_install_is_uninstalled_and_a_token_given_by_hand_is_left_alone(
    gw: Gateway, shop, redis, pool, temporal, admin, secrets, vault
):
    token = shop.access_token
    by_hand = {"access_token": token}  # a custom app's token the merchant pasted: theirs to remove
    installed = {
        "client_id": shop.client_id,
        "client_secret": shop.client_secret,
        oauth.ACCESS_TOKEN: token,
        oauth.TOKEN_URL: shop.url + SHOPIFY_TOKEN_PATH,
    }
    tenant, key, pasted = await make_connector(gw, admin, secrets, "shopify", {"shop": shop.url}, by_hand)
    other_tenant, other_key, connector = await make_connector(
        gw, admin, secrets, "shopify", {"shop": shop.url}, installed
    )
    async with running(redis, groups(pool, redis, temporal)):
        kept = await disconnect(gw, key, pasted)
        assert kept["status"] == "completed" and "no OAuth2 grant to revoke" in kept["reason"], kept
        assert shop.uninstalls == 0 and await shopify_status(shop, token) == 200
        command = await disconnect(gw, other_key, connector)
    assert command["status"] == "completed" and "access revoked at Shopify" in command["reason"], command
    assert shop.uninstalls == 1
    assert await shopify_status(shop, token) == 401  # the app is uninstalled: its token is refused
    assert vault_forgot(vault, tenant, pasted) and vault_forgot(vault, other_tenant, connector)


async def test_a_token_the_provider_no_longer_knows_counts_as_revoked_and_only_5xx_is_retried(crm):
    facts = get_facts("zoho-crm")
    values = zoho_values(crm)
    assert await oauth.revoke(facts, values, allow_private=True) == "access revoked at Zoho CRM"
    again = await oauth.revoke(facts, values, allow_private=True)  # already revoked: 400 invalid_token
    assert again.startswith("access revoked at Zoho CRM (the token no longer worked: invalid_token")
    crm.oauth.fail_with = 503
    with pytest.raises(TransientError, match="answered 503") as raised:
        await oauth.revoke(facts, values, allow_private=True)
    assert values[oauth.REFRESH_TOKEN] not in str(raised.value)  # the URL's query is never in a message
    crm.oauth.fail_with = 403
    with pytest.raises(oauth.OAuthError, match="answered 403"):
        await oauth.revoke(facts, values, allow_private=True)
    assert await oauth.revoke(facts, {"client_id": "x"}, allow_private=True) == "no OAuth2 grant to revoke"
    assert await oauth.revoke(get_facts("woocommerce"), values) == "WooCommerce offers no revocation by API"

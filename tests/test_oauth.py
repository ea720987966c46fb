"""OAuth2 for connectors against a local authorization server (tests/oauth_server.py), real Redis, Postgres and
OpenBao: the authorize redirect (state + PKCE), the callback (tokens to Vault only; forged, replayed and foreign-host
callbacks store and send nothing), and fresh access tokens (one refresh under 20 concurrent callers, a kept refresh
token, needs_reauth without a retry storm)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import TABLES
from factories import local_http_server
from gateway_helpers import Gateway
from oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

from connectors import oauth
from connectors.credentials import VaultSecrets
from connectors.registry import get_facts
from events.errors import PermanentError, TransientError

PUBLIC_URL = "https://bz.example.com"
CALLBACK = PUBLIC_URL + "/v1/oauth/callback"


@pytest.fixture
async def server():
    found = OAuthServer()
    async with local_http_server(found.app()) as base:
        found.url = base
        yield found


def store(vault) -> VaultSecrets:
    return VaultSecrets(vault.addr, vault.token)


async def zoho(gw: Gateway, key: str) -> str:
    body = {
        "provider": "zoho-crm",
        "name": "crm",
        "config": {"api_domain": "https://www.zohoapis.eu"},
        "secrets": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    }
    resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def authorize(gw: Gateway, key: str, connector: str) -> dict[str, str]:
    resp = await gw.get(f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


async def consent(gw: Gateway, server: OAuthServer, params: dict[str, str], **override: str) -> str:
    """The user at the provider: its authorization page answers with the callback URL's query."""
    resp = await gw.session.get(f"{server.url}/oauth/v2/auth?{urlencode(params)}", allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    return urlencode({**query, **override})


async def everything_in_postgres(admin) -> str:
    rows = []
    for table in TABLES:
        rows += [r[0] for r in await admin.fetch(f"SELECT t::text FROM {table} t")]  # fixed table names
    return "\n".join(rows)


async def test_authorize_redirects_to_the_provider_with_state_and_pkce(make_gateway, redis):
    gw = await make_gateway(public_url=PUBLIC_URL + "/")
    tenant, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    resp = await gw.get(
        f"/v1/connectors/{connector}/oauth/authorize",
        headers={**gw.bearer(key), "Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 302 and resp.headers["Cache-Control"] == "no-store"
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://accounts.zoho.com/oauth/v2/auth"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["redirect_uri"] == CALLBACK  # from BIZOSAAS_PUBLIC_URL, never the Host
    assert params["client_id"] == CLIENT_ID and params["response_type"] == "code"
    assert params["scope"] == (
        "ZohoCRM.modules.leads.ALL,ZohoCRM.modules.contacts.ALL,ZohoCRM.modules.deals.ALL,ZohoCRM.notifications.ALL"
    )
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["access_type"] == "offline" and len(params["state"]) >= 43
    assert CLIENT_SECRET not in resp.headers["Location"]
    ttl = await redis.ttl(f"bz:oauth:state:{params['state']}")
    assert 590 <= ttl <= 600
    pending = await oauth.take_state(redis, params["state"])
    assert pending.connector_id == connector and pending.redirect_uri == CALLBACK and pending.principal
    assert pending.tenant_id == tenant and pending.provider == "zoho-crm"
    # the verifier stays here; only its S256 hash went out
    digest = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest()).rstrip(b"=").decode()
    assert digest == params["code_challenge"] and pending.verifier not in resp.headers["Location"]

    # another tenant, a reader, an unknown connector, a provider without OAuth2
    _, other = await gw.create_tenant("other")
    assert (await gw.get(f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(other))).status == 404
    user = await gw.create_key(key, "user")
    assert (await gw.get(f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(user))).status == 403
    woo = {
        "provider": "woocommerce",
        "name": "shop",
        "config": {"store_url": "https://shop.example.com"},
        "secrets": {"consumer_key": "ck", "consumer_secret": "cs", "webhook_secret": "w"},
    }
    woo_id = (await (await gw.post("/v1/connectors", json=woo, headers=gw.bearer(key))).json())["id"]
    resp = await gw.get(f"/v1/connectors/{woo_id}/oauth/authorize", headers=gw.bearer(key))
    assert resp.status == 409 and "OAuth2" in (await resp.json())["detail"]


async def test_without_a_public_url_authorize_names_the_setting(gw: Gateway):
    _, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    resp = await gw.get(f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False)
    assert resp.status == 501 and resp.content_type == "application/problem+json"
    assert "BIZOSAAS_PUBLIC_URL" in (await resp.json())["detail"]


async def test_the_callback_stores_the_tokens_in_vault_only_and_a_replay_stores_nothing(
    make_gateway, redis, admin, vault, server
):
    gw = await make_gateway(public_url=PUBLIC_URL)
    tenant, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    query = await consent(gw, server, await authorize(gw, key, connector))
    resp = await gw.get(f"/v1/oauth/callback?{query}")
    assert resp.status == 200, await resp.text()
    answer = await resp.text()
    assert server.token_calls == 1
    values = await store(vault).read(tenant, connector)
    access, refresh = values[oauth.ACCESS_TOKEN], values[oauth.REFRESH_TOKEN]
    assert access in server.access_tokens and refresh in server.refresh_tokens
    assert values[oauth.TOKEN_URL] == f"{server.url}/oauth/v2/token"  # the accounts server the callback named
    assert values["client_id"] == CLIENT_ID and float(values[oauth.EXPIRES_AT]) > time.time() + 3000
    assert access not in answer and refresh not in answer
    dumped = await everything_in_postgres(admin)
    assert access not in dumped and refresh not in dumped
    assert await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector) == "active"
    # the set-up runs again, now with a token: a second connect command (the first was the creation's)
    connects = "SELECT count(*) FROM commands WHERE connector_id = $1 AND type = 'connector.connect.v1'"
    assert await admin.fetchval(connects, connector) == 2

    replayed = await gw.get(f"/v1/oauth/callback?{query}")
    assert replayed.status == 400 and (await replayed.json())["type"].endswith(":oauth-state")
    assert server.token_calls == 1
    assert await admin.fetchval(connects, connector) == 2
    assert (await store(vault).read(tenant, connector, fresh=True))[oauth.ACCESS_TOKEN] == access


async def test_a_forged_or_expired_state_stores_nothing(make_gateway, redis, vault, server):
    gw = await make_gateway(public_url=PUBLIC_URL)
    tenant, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    params = await authorize(gw, key, connector)
    forged = await consent(gw, server, params, state="forged-" + params["state"][7:])
    resp = await gw.get(f"/v1/oauth/callback?{forged}")
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    assert (await resp.json())["type"].endswith(":oauth-state")
    await redis.delete(f"bz:oauth:state:{params['state']}")  # what ten minutes do
    expired = await consent(gw, server, params)
    assert (await gw.get(f"/v1/oauth/callback?{expired}")).status == 400
    assert (await gw.get("/v1/oauth/callback")).status == 400
    assert server.token_calls == 0
    assert oauth.ACCESS_TOKEN not in (await store(vault).read(tenant, connector) or {})


async def test_a_callback_naming_an_undocumented_accounts_server_sends_nothing_there(
    make_gateway, redis, vault, server
):
    gw = await make_gateway(public_url=PUBLIC_URL)
    tenant, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    for host in (
        "https://accounts.zoho.evil.example",
        "https://accounts.zoho.com.evil.example",
        "ftp://accounts.zoho.com",
    ):
        query = await consent(gw, server, await authorize(gw, key, connector), **{"accounts-server": host})
        resp = await gw.get(f"/v1/oauth/callback?{query}")
        assert resp.status == 400, await resp.text()
        assert "documented" in (await resp.json())["detail"]
    # without allow_private_urls a loopback accounts server is refused too, before a byte is sent
    strict = await make_gateway(public_url=PUBLIC_URL, allow_private_urls=False)
    query = await consent(gw, server, await authorize(strict, key, connector))
    resp = await strict.get(f"/v1/oauth/callback?{query}")
    assert resp.status == 400 and "documented" in (await resp.json())["detail"]
    assert server.token_calls == 0
    assert oauth.ACCESS_TOKEN not in (await store(vault).read(tenant, connector, fresh=True) or {})
    # a documented host is admitted, with the token endpoint's path
    url = oauth.token_url(get_facts("zoho-crm"), "https://accounts.zoho.eu", allow_private=False)
    assert url == "https://accounts.zoho.eu/oauth/v2/token"


# --- fresh access tokens ------------------------------------------------------------------------------------------


async def connected(gw: Gateway, vault, server: OAuthServer, **values) -> tuple[str, str, str, str]:
    """A zoho-crm connector whose Vault entry holds tokens from the local server (access token expired)."""
    tenant, key = await gw.create_tenant()
    connector = await zoho(gw, key)
    refresh = server.issue_refresh()
    secrets = store(vault)
    current = await secrets.read(tenant, connector, fresh=True)
    await secrets.write(
        tenant,
        connector,
        {
            **current,
            oauth.ACCESS_TOKEN: "1000.access.expired",
            oauth.REFRESH_TOKEN: refresh,
            oauth.EXPIRES_AT: time.time() + 60,  # inside the 5 minute skew: refresh now
            oauth.TOKEN_URL: f"{server.url}/oauth/v2/token",
            **values,
        },
    )
    return tenant, connector, refresh, key


def source(redis, pool, vault, **kwargs) -> oauth.TokenSource:
    return oauth.TokenSource(redis=redis, pool=pool, secrets=store(vault), allow_private=True, **kwargs)


async def test_an_expired_token_under_20_concurrent_callers_is_refreshed_once(gw: Gateway, redis, pool, vault, server):
    tenant, connector, refresh, _ = await connected(gw, vault, server)
    server.delay_s = 0.2  # a slow provider: every caller arrives while the refresh is in flight
    processes = [source(redis, pool, vault) for _ in range(4)]  # separate caches, as separate workers have
    tokens = await asyncio.gather(*(oauth.fresh_access_token(processes[i % 4], tenant, connector) for i in range(20)))
    assert server.refresh_calls == 1 and server.token_calls == 1
    assert len(set(tokens)) == 1 and tokens[0] in server.access_tokens
    values = await store(vault).read(tenant, connector)
    assert values[oauth.REFRESH_TOKEN] == refresh  # the answer carried none: the old one is kept
    assert values[oauth.ACCESS_TOKEN] == tokens[0] and float(values[oauth.EXPIRES_AT]) > time.time() + 3000
    # valid now: no provider call at all
    assert await oauth.fresh_access_token(processes[0], tenant, connector) == tokens[0]
    assert server.token_calls == 1
    assert not await redis.exists(f"bz:oauth:lock:{tenant}:{connector}")


async def test_a_rotated_refresh_token_replaces_the_old_one(gw: Gateway, redis, pool, vault, server):
    tenant, connector, refresh, _ = await connected(gw, vault, server)
    server.rotate_refresh = True
    await oauth.fresh_access_token(source(redis, pool, vault), tenant, connector)
    kept = (await store(vault).read(tenant, connector))[oauth.REFRESH_TOKEN]
    assert kept != refresh and kept in server.refresh_tokens


async def test_a_revoked_refresh_token_marks_needs_reauth_and_stops_calling(
    make_gateway, redis, pool, admin, vault, server
):
    gw = await make_gateway(public_url=PUBLIC_URL)
    tenant, connector, refresh, key = await connected(gw, vault, server)
    server.revoke(refresh)
    tokens = source(redis, pool, vault)
    with pytest.raises(oauth.NeedsReauth) as refused:
        await oauth.fresh_access_token(tokens, tenant, connector)
    assert isinstance(refused.value, PermanentError)
    assert "reconnect" in str(refused.value) and f"/v1/connectors/{connector}/oauth/authorize" in str(refused.value)
    assert "invalid_grant" in str(refused.value) and refresh not in str(refused.value)
    assert server.token_calls == 1
    assert await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector) == "needs_reauth"
    for _ in range(5):  # fail fast: the provider is not asked again
        with pytest.raises(oauth.NeedsReauth):
            await oauth.fresh_access_token(source(redis, pool, vault), tenant, connector)
    assert server.token_calls == 1
    # reconnecting clears it
    query = await consent(gw, server, await authorize(gw, key, connector))
    assert (await gw.get(f"/v1/oauth/callback?{query}")).status == 200
    assert await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector) == "active"
    token = await oauth.fresh_access_token(source(redis, pool, vault), tenant, connector)
    assert token in server.access_tokens and server.refresh_calls == 1


async def test_a_provider_failure_while_refreshing_is_transient_and_marks_nothing(
    gw: Gateway, redis, pool, admin, vault, server
):
    tenant, connector, refresh, _ = await connected(gw, vault, server)
    server.fail_with = 503
    with pytest.raises(TransientError):
        await oauth.fresh_access_token(source(redis, pool, vault), tenant, connector)
    assert await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector) == "active"
    assert (await store(vault).read(tenant, connector))[oauth.REFRESH_TOKEN] == refresh
    await store(vault).write(
        tenant,
        connector,
        {**await store(vault).read(tenant, connector), oauth.TOKEN_URL: "http://127.0.0.1:9/oauth/v2/token"},
    )
    with pytest.raises(TransientError):  # nothing listens there
        await oauth.fresh_access_token(source(redis, pool, vault), tenant, connector)
    server.fail_with = None


async def test_a_shopify_install_uses_the_shops_own_endpoints_and_checks_the_callbacks_hmac(
    make_gateway, redis, admin, vault
):
    """Shopify: each shop has its own authorization page and token endpoint, and its callback is signed (`hmac`
    over the other parameters with the app's client secret) and names the shop: both checked before the code is
    exchanged (connectors/providers/shopify/oauth_hooks.py)."""
    from providers.shopify_server import ShopifyShop

    from connectors.providers.shopify.shop import callback_hmac

    shop = ShopifyShop()
    async with local_http_server(shop.app()) as url:
        shop.url = url
        gw = await make_gateway(public_url=PUBLIC_URL)
        tenant, key = await gw.create_tenant()
        body = {
            "provider": "shopify",
            "name": "shop",
            "config": {"shop": url},  # a loopback shop: tests run with allow_private_urls
            "secrets": {"webhook_secret": "s3cret", "client_id": shop.client_id, "client_secret": shop.client_secret},
        }
        resp = await gw.post("/v1/connectors", json=body, headers=gw.bearer(key))
        assert resp.status == 201, await resp.text()
        connector = (await resp.json())["id"]
        redirect = await gw.get(
            f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False
        )
        location = urlsplit(redirect.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == f"{url}/admin/oauth/authorize"
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert params["scope"] == "read_orders,write_orders,read_products,read_customers"

        shop.codes.add("code-1")
        callback = {"code": "code-1", "shop": urlsplit(url).netloc, "state": params["state"], "timestamp": "1"}
        forged = {**callback, "hmac": callback_hmac(callback, "not-the-client-secret")}
        refused = await gw.get(f"/v1/oauth/callback?{urlencode(forged)}")
        assert refused.status == 400 and "hmac" in (await refused.json())["detail"]
        assert "code-1" in shop.codes  # nothing was sent to the shop
        assert oauth.ACCESS_TOKEN not in (await store(vault).read(tenant, connector, fresh=True))

        redirect = await gw.get(
            f"/v1/connectors/{connector}/oauth/authorize", headers=gw.bearer(key), allow_redirects=False
        )
        state = parse_qs(urlsplit(redirect.headers["Location"]).query)["state"][0]
        signed = {**callback, "state": state}
        signed["hmac"] = callback_hmac(signed, shop.client_secret)
        resp = await gw.get(f"/v1/oauth/callback?{urlencode(signed)}")
        assert resp.status == 200, await resp.text()
        assert "code-1" not in shop.codes  # exchanged at the shop's own token endpoint
        values = await store(vault).read(tenant, connector, fresh=True)
        assert values[oauth.ACCESS_TOKEN] == shop.access_token
        assert values[oauth.TOKEN_URL] == f"{url}/admin/oauth/access_token"
        assert shop.access_token not in await everything_in_postgres(admin)

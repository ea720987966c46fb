"""The connector page's gaps: its webhook deliveries with their payloads and a Retry that runs the normalizer again on
the stored delivery (POST /v1/deliveries/{id}/retry's function), shown only to the roles that may read deliveries;
and the OAuth2 connect button, whose flow (tests/oauth_server.py as the provider) lands back on the connector's
page. HTTP only: these pages have no script."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from factories import local_http_server
from oauth_server import OAuthServer
from portal_records import insert_delivery
from test_oauth import zoho
from test_portal_access import make_connector
from test_portal_roles import signed_in

from events.streams import stream_for_tenant


@pytest.fixture
async def provider():
    found = OAuthServer()
    async with local_http_server(found.app()) as base:
        found.url = base
        yield found


async def test_deliveries_show_their_payload_and_retry_runs_the_normalizer_again(make_gateway, admin, redis):
    gw = await make_gateway(portal_key_signin=True)
    tenant_id, key = await gw.create_tenant("Acme")
    connector_id = await make_connector(gw, key)
    delivery_id = await insert_delivery(admin, tenant_id, connector_id)
    manager, csrf = await signed_in(gw, await gw.create_key(key, "manager"), "/portal/sign-in")
    user, user_csrf = await signed_in(gw, await gw.create_key(key, "user"), "/portal/sign-in")
    try:
        connector = await (await manager.get(f"/portal/connectors/{connector_id}")).text()
        assert f"/portal/connectors/{connector_id}/deliveries" in connector
        listed = await (await manager.get(f"/portal/connectors/{connector_id}/deliveries")).text()
        assert f"/portal/deliveries/{delivery_id}" in listed and "KeyError: line_items" in listed
        shown = await (await manager.get(f"/portal/deliveries/{delivery_id}")).text()
        assert "X-WC-Webhook-Delivery-ID: 77" in shown and "&#34;line_items&#34;" in shown and "Retry" in shown

        retried = await manager.post(f"/portal/deliveries/{delivery_id}/retry", data={"csrf": csrf})
        assert retried.status == 200 and "Retried: the delivery is now published" in await retried.text()
        row = await admin.fetchrow("SELECT outcome, retries, event_ids FROM deliveries WHERE id = $1", delivery_id)
        assert (row["outcome"], row["retries"]) == ("published", 1) and row["event_ids"]
        assert await redis.xlen(stream_for_tenant(tenant_id)) == len(row["event_ids"])

        assert "/deliveries" not in await (await user.get(f"/portal/connectors/{connector_id}")).text()
        assert (await user.get(f"/portal/deliveries/{delivery_id}")).status == 403
        refused = await user.post(f"/portal/deliveries/{delivery_id}/retry", data={"csrf": user_csrf})
        assert refused.status == 403
        _, other_key = await gw.create_tenant("Other")
        other, _ = await signed_in(gw, other_key, "/portal/sign-in")
        assert (await other.get(f"/portal/deliveries/{delivery_id}")).status == 404
        assert (await other.get(f"/portal/connectors/{connector_id}/deliveries")).status == 404
        await other.close()
    finally:
        await manager.close()
        await user.close()
    assert await admin.fetchval("SELECT retries FROM deliveries WHERE id = $1", delivery_id) == 1


async def _consent(gw, provider: OAuthServer, session, connector_id: str, **override: str):
    """The button, then the person at the provider, then the provider's redirect to the callback."""
    started = await session.get(f"/portal/connectors/{connector_id}/oauth", allow_redirects=False)
    assert started.status == 303, await started.text()
    params = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["Location"]).query).items()}
    at_provider = await gw.session.get(f"{provider.url}/oauth/v2/auth?{urlencode(params)}", allow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(at_provider.headers["Location"]).query).items()}
    return await gw.get(f"/v1/oauth/callback?{urlencode({**query, **override})}", allow_redirects=False)


async def test_the_oauth_button_lands_back_on_the_connector_page(make_gateway, admin, provider):
    gw = await make_gateway(portal_key_signin=True, public_url="http://bz.example.com")
    _, key = await gw.create_tenant("Acme")
    connector_id = await zoho(gw, key)
    session, _ = await signed_in(gw, key, "/portal/sign-in")
    try:
        page = await (await session.get(f"/portal/connectors/{connector_id}")).text()
        assert f'href="/portal/connectors/{connector_id}/oauth"' in page
        back = await _consent(gw, provider, session, connector_id)
        assert back.status == 303 and back.headers["Location"] == f"/portal/connectors/{connector_id}?done=oauth"
        assert provider.token_calls == 1
        assert await admin.fetchval("SELECT status FROM connectors WHERE id = $1", connector_id) == "active"
        landed = await (await session.get(back.headers["Location"])).text()
        assert "Signed in at the provider" in landed

        refused = await _consent(gw, provider, session, connector_id, code="not-a-code")
        assert refused.headers["Location"] == f"/portal/connectors/{connector_id}?done=oauth-failed"
        user, _ = await signed_in(gw, await gw.create_key(key, "user"), "/portal/sign-in")
        assert "/oauth" not in await (await user.get(f"/portal/connectors/{connector_id}")).text()
        assert (await user.get(f"/portal/connectors/{connector_id}/oauth", allow_redirects=False)).status == 403
        await user.close()
    finally:
        await session.close()

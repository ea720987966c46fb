"""Onboarding in a real browser: a person signs in by OIDC (the local issuer of tests/portal_helpers.py) with no
tenant, makes one, walks the six steps (connecting WooCommerce to the local store of
tests/providers/woocommerce_server.py, its credentials to Vault), leaves mid-way and comes back to the same step."""

from __future__ import annotations

import pytest
from factories import local_http_server
from portal_helpers import PHONE_WIDTH
from providers.woocommerce_server import WooCommerceStore
from test_portal_pages import check

from connectors.credentials import VaultSecrets


@pytest.fixture
async def shop():
    store = WooCommerceStore()
    async with local_http_server(store.app()) as url:
        store.url = url
        yield store


async def sign_in(page, step: str) -> None:
    await page.goto("/portal/sign-in")
    await page.get_by_role("link", name="Sign in with single sign-on").click()
    await page.wait_for_url("**/portal/onboarding")
    assert f"{step} of 6" in await page.get_by_role("heading", level=2).inner_text()


async def test_a_new_person_makes_a_tenant_walks_the_six_steps_and_comes_back_where_they_stopped(
    oidc_portal, shop, admin, vault
):
    portal, provider = oidc_portal
    provider.claims = {"sub": "olive", "name": "Olive Owner"}
    page = await portal.page()
    await sign_in(page, "Step 1")
    resp = await page.request.get("/portal/connectors", max_redirects=0)  # no tenant yet: only onboarding opens
    assert resp.status == 303 and resp.headers["location"] == "/portal/onboarding"
    problems = await check(page, "onboarding-account")
    await page.get_by_label("Business name").fill("Olive's Oils")
    await page.get_by_label("Your name (optional)").fill("Olive Owner")
    await page.get_by_role("button", name="Create my business").click()

    await page.wait_for_url("**/portal/onboarding")
    assert "Step 2 of 6" in await page.get_by_role("heading", level=2).inner_text()
    assert "role admin" in await page.locator("footer").inner_text()
    tenant_id = await admin.fetchval("SELECT tenant_id FROM memberships WHERE subject = 'olive' AND role = 'admin'")
    assert await admin.fetchval("SELECT name FROM tenants WHERE id = $1", tenant_id) == "Olive's Oils"
    await page.get_by_label("Industry").select_option("Retail and e-commerce")
    await page.get_by_label("What your business does (optional)").fill("Olive oil from our own grove.")
    await page.get_by_label("Sell more online").check()
    await page.get_by_role("button", name="Save and continue").click()

    await page.wait_for_url("**/portal/onboarding")
    await page.get_by_label("WooCommerce").check()
    await page.get_by_role("button", name="Continue").click()

    await page.wait_for_url("**/portal/onboarding")
    assert "Connect WooCommerce" in await page.get_by_role("heading", level=3).inner_text()
    form = page.locator("form[action='/portal/onboarding/credentials']").first
    await form.get_by_label("Name").fill("Grove shop")
    await form.locator("[name='config.store_url']").fill(shop.url)
    await form.locator("[name='secrets.consumer_key']").fill(shop.consumer_key)
    await form.locator("[name='secrets.consumer_secret']").fill(shop.consumer_secret)
    await form.get_by_role("button", name="Connect").click()

    await page.wait_for_url("**/portal/onboarding?done=connected")
    assert "not shown again" in await page.get_by_role("status").inner_text()
    assert "Step 5 of 6" in await page.get_by_role("heading", level=2).inner_text()
    connector_id, config = await admin.fetchrow(
        "SELECT id, config->>'store_url' FROM connectors WHERE tenant_id = $1 AND provider = 'woocommerce'", tenant_id
    )
    assert config == shop.url
    stored = await VaultSecrets(vault.addr, vault.token).read(tenant_id, connector_id, fresh=True)
    assert stored is not None and stored["consumer_secret"] == shop.consumer_secret  # in Vault ...
    assert await admin.fetchval("SELECT count(*) FROM connectors WHERE config::text LIKE '%cs_test%'") == 0
    assert shop.consumer_secret not in await page.content()  # ... and never on a page

    # leave mid-way: a new sign-in (another browser) lands on the step where the tenant stopped
    await page.get_by_role("button", name="Sign out").click()
    page = await portal.page()
    await sign_in(page, "Step 5")
    await page.goto("/portal/onboarding?step=profile")  # back to a passed step: what was saved is there ...
    assert await page.get_by_label("Industry").input_value() == "Retail and e-commerce"
    assert await page.get_by_label("Sell more online").is_checked()
    await page.goto("/portal/onboarding?step=automations")  # ... and a step not reached yet is not skipped to
    assert "Step 5 of 6" in await page.get_by_role("heading", level=2).inner_text()
    await page.get_by_role("button", name="Activate my personal agent").click()

    await page.wait_for_url("**/portal/onboarding")
    assert "Step 6 of 6" in await page.get_by_role("heading", level=2).inner_text()
    suggested = page.get_by_label("Order fulfilment")  # an agent reading WooCommerce's orders, products, contacts
    assert await suggested.is_checked()
    await page.get_by_label("Review requests").uncheck()
    await page.get_by_role("button", name="Enable and finish").click()
    await page.wait_for_url("**/portal/onboarding")
    assert await page.get_by_role("heading", name="You are set up").count() == 1

    profile = await admin.fetchrow("SELECT * FROM tenant_profiles WHERE tenant_id = $1", tenant_id)
    assert profile["industry"] == "Retail and e-commerce" and profile["goals"] == ["sell"]
    assert profile["providers"] == ["woocommerce"] and profile["personal_agent"] is True
    assert profile["onboarding_step"] == "done"
    enabled = {r["agent_id"] for r in await admin.fetch("SELECT agent_id FROM agent_settings WHERE enabled")}
    assert "order-fulfilment" in enabled and "review-requester" not in enabled
    assert problems == []


async def test_the_first_step_and_an_invite_page_are_accessible_at_a_phones_width(oidc_portal):
    portal, provider = oidc_portal
    provider.claims = {"sub": "phoebe"}
    page = await portal.page(PHONE_WIDTH)
    await sign_in(page, "Step 1")
    problems = await check(page, "onboarding-account")
    await page.get_by_label("Business name").fill("Phone Co")
    await page.get_by_role("button", name="Create my business").click()
    await page.wait_for_url("**/portal/onboarding")
    await page.goto("/portal/team")
    await page.get_by_role("button", name="Create invite link").click()
    link = await page.locator("#invite-link").inner_text()
    guest = await portal.page(PHONE_WIDTH)
    await guest.goto(link)
    problems += await check(guest, "invite")
    assert problems == []

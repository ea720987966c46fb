"""Portal sign-in by OIDC (authorization code + PKCE) against a local issuer that speaks the protocol (its
authorize and token endpoints check the S256 challenge; its ID tokens are signed with the JWKS the gateway reads)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from gateway_helpers import ADMIN_TOKEN


async def test_a_person_signs_in_with_oidc_and_pkce_and_gets_their_role(oidc_portal):
    portal, provider = oidc_portal
    tenant_id, _ = await portal.gw.create_tenant("Acme")
    provider.claims = {"sub": "alice", "bizosaas_tenant": tenant_id, "bizosaas_role": "manager"}
    page = await portal.page()
    await page.goto("/portal/sign-in")
    assert await page.get_by_label("API key").count() == 0  # key sign-in is off here
    await page.get_by_role("link", name="Sign in with single sign-on").click()
    await page.wait_for_url("**/portal/")
    assert provider.exchanged == 1
    assert await page.get_by_role("heading", level=1).inner_text() == "Acme"
    assert "role manager" in await page.locator("footer").inner_text()
    assert await page.get_by_role("link", name="API keys").count() == 0  # a manager manages no keys
    assert (await page.request.get("/portal/keys", max_redirects=0)).status == 403
    await page.goto("/portal/connectors")
    assert await page.get_by_role("link", name="Connect WooCommerce").count() == 1
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert "bz_oidc" not in cookies and cookies["bz_session"]["httpOnly"]

    await page.get_by_role("button", name="Sign out").click()  # an OIDC session ends like any other
    await page.wait_for_url("**/portal/sign-in")
    assert (await page.request.get("/portal/", max_redirects=0)).status == 303


async def test_a_callback_counts_once_and_only_in_the_browser_that_started_it(oidc_portal):
    portal, provider = oidc_portal
    tenant_id, _ = await portal.gw.create_tenant("Acme")
    provider.claims = {"sub": "bob", "bizosaas_tenant": tenant_id, "bizosaas_role": "user"}
    mine = await portal.page()
    started = await mine.request.get("/portal/oidc/start", max_redirects=0)
    authorize = started.headers["location"]
    assert parse_qs(urlsplit(authorize).query)["code_challenge_method"] == ["S256"]
    callback = (await mine.request.get(authorize, max_redirects=0)).headers["location"]

    other = await portal.page()  # a browser that did not start this sign-in (login CSRF)
    resp = await other.goto(callback)
    assert resp is not None and resp.status == 400
    assert "not started in this browser" in await other.get_by_role("alert").inner_text()

    resp = await mine.goto(callback)
    assert mine.url.endswith("/portal/") and resp is not None and resp.status == 200
    again = await portal.page()
    await again.context.add_cookies(
        [{"name": "bz_oidc", "value": parse_qs(urlsplit(callback).query)["state"][0], "url": portal.base}]
    )
    resp = await again.goto(callback)
    assert resp is not None and resp.status == 400
    assert "used already" in await again.get_by_role("alert").inner_text()


async def test_a_token_for_another_sign_in_is_refused_and_one_without_a_tenant_goes_to_onboarding(oidc_portal):
    portal, provider = oidc_portal
    tenant_id, _ = await portal.gw.create_tenant("Acme")
    provider.claims = {"sub": "eve", "bizosaas_tenant": tenant_id, "bizosaas_role": "admin"}
    provider.wrong_nonce = True
    page = await portal.page()
    await page.goto("/portal/oidc/start")
    assert "nonce" in await page.get_by_role("alert").inner_text()
    assert "bz_session" not in {c["name"] for c in await page.context.cookies()}

    provider.wrong_nonce = False
    provider.claims = {"sub": "nobody"}  # no tenant claim and no membership: onboarding's first step, not a refusal
    await page.goto("/portal/oidc/start")
    await page.wait_for_url("**/portal/onboarding")
    assert "Step 1 of 6" in await page.locator("main").inner_text()
    assert (await page.request.get("/portal/", max_redirects=0)).headers["location"] == "/portal/onboarding"


async def test_an_operator_claim_opens_the_console(oidc_portal):
    portal, provider = oidc_portal
    provider.claims = {"sub": "ops", "bizosaas_operator": True}
    page = await portal.page()
    await page.goto("/portal/oidc/start")
    await page.wait_for_url("**/console/")
    assert ADMIN_TOKEN not in await page.content()
    assert await page.get_by_role("heading", level=1).inner_text() == "Operator console"


async def test_a_cookie_the_token_endpoint_sets_goes_with_no_later_sign_in(oidc_portal):
    """One HTTP session exchanges every person's code: what the issuer's token endpoint set for one person's exchange
    must not go with the next person's."""
    portal, provider = oidc_portal
    tenant_id, _ = await portal.gw.create_tenant("Acme")
    provider.set_cookie = "idp_session=alice-only; Path=/"
    for person in ("alice", "bob"):
        provider.claims = {"sub": person, "bizosaas_tenant": tenant_id, "bizosaas_role": "user"}
        page = await portal.page()
        await page.goto("/portal/oidc/start")
        await page.wait_for_url("**/portal/")
    assert provider.exchanged == 2 and provider.cookies_seen == [{}, {}]


async def test_oidc_is_off_without_its_settings(portal):
    page = await portal.page()
    resp = await page.goto("/portal/oidc/start")
    assert resp is not None and resp.status == 501
    await page.goto("/portal/sign-in")
    assert await page.get_by_role("link", name="Sign in with single sign-on").count() == 0

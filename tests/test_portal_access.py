"""Who may see and do what in the portal, in a real browser: roles (a control a role may not use is neither shown
nor accepted when posted directly), tenants never see each other, CSRF, sessions that end at sign-out and at key
revocation, cookies the JSON API refuses, and a console only the operator opens."""

from __future__ import annotations

import re

from gateway_helpers import ADMIN_TOKEN, Gateway
from portal_helpers import csrf_of
from test_portal_flow import insert_order

CONNECT_BODY = {
    "provider": "woocommerce",
    "name": "A's store",
    "config": {"store_url": "https://a.example.com"},
    "secrets": {"consumer_key": "ck", "consumer_secret": "cs", "webhook_secret": "whsec"},
}


async def make_connector(gw: Gateway, key: str, name: str = "A's store") -> str:
    resp = await gw.post("/v1/connectors", json={**CONNECT_BODY, "name": name}, headers=gw.bearer(key))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def connector_count(gw: Gateway, key: str) -> int:
    resp = await gw.get("/v1/connectors", headers=gw.bearer(key))
    return len((await resp.json())["items"])


async def test_a_user_sees_no_controls_and_what_it_posts_directly_is_refused(portal):
    gw = portal.gw
    _, admin_key = await gw.create_tenant("Acme")
    connector_id = await make_connector(gw, admin_key)
    page = await portal.sign_in(await gw.create_key(admin_key, "user"))
    assert await page.get_by_role("link", name="API keys").count() == 0
    await page.goto("/portal/connectors")
    assert await page.get_by_role("link", name="A's store").count() == 1  # a user reads
    assert await page.get_by_role("link", name=re.compile("^Connect ")).count() == 0
    await page.goto(f"/portal/connectors/{connector_id}")
    assert await page.get_by_role("button", name="Sync now").count() == 0

    csrf = await csrf_of(page)  # the user's own valid token: only the role stops these
    form = {"csrf": csrf, "provider": "woocommerce", "name": "sneaky", "config.store_url": "https://x.example.com"}
    for path, body in (
        ("/portal/connectors", form),
        (f"/portal/connectors/{connector_id}/sync", {"csrf": csrf}),
        ("/portal/keys", {"csrf": csrf, "name": "mine", "role": "admin"}),
    ):
        resp = await page.request.post(path, form=body, max_redirects=0)
        assert resp.status == 403, (path, resp.status)
    assert (await page.request.get("/portal/keys", max_redirects=0)).status == 403
    assert (await page.request.get("/portal/connectors/new?provider=woocommerce", max_redirects=0)).status == 403
    assert await connector_count(gw, admin_key) == 1
    commands = await gw.get("/v1/commands", headers=gw.bearer(admin_key))
    assert [c["type"] for c in (await commands.json())["items"]] == ["connector.connect.v1"]

    manager = await portal.sign_in(await gw.create_key(admin_key, "manager"))
    assert await manager.get_by_role("link", name="API keys").count() == 0
    assert (await manager.request.get("/portal/keys", max_redirects=0)).status == 403
    await manager.goto("/portal/connectors")
    assert await manager.get_by_role("link", name="Connect WooCommerce").count() == 1


async def test_tenant_b_never_sees_tenant_a(portal, admin):
    gw = portal.gw
    a_id, a_key = await gw.create_tenant("Tenant A")
    connector_id = await make_connector(gw, a_key, "A's secret store")
    record_id = await insert_order(admin, a_id, "7", "A's order 7")
    _, b_key = await gw.create_tenant("Tenant B")
    page = await portal.sign_in(b_key)
    for path in ("/portal/", "/portal/connectors", "/portal/data?kind=order"):
        await page.goto(path)
        text = await page.locator("body").inner_text()
        assert "A's secret store" not in text and "A's order 7" not in text and "Tenant A" not in text, path
    for path in (f"/portal/connectors/{connector_id}", f"/portal/data/order/{record_id}"):
        resp = await page.goto(path)
        assert resp is not None and resp.status == 404, path
    resp = await page.request.post(f"/portal/connectors/{connector_id}/sync", form={"csrf": await csrf_of(page)})
    assert resp.status == 404

    a_page = await portal.sign_in(a_key)  # and A does see them: the checks above can fail
    await a_page.goto(f"/portal/data/order/{record_id}")
    assert "A's order 7" in await a_page.get_by_role("heading", level=1).inner_text()


async def test_a_form_posted_without_its_csrf_token_is_refused(portal):
    gw = portal.gw
    _, key = await gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    other = await portal.sign_in(key)  # another session of the same key: its token is not this session's
    for body in ({"name": "no token", "role": "user"}, {"name": "other", "role": "user", "csrf": await csrf_of(other)}):
        resp = await page.request.post("/portal/keys", form=body, max_redirects=0)
        assert resp.status == 403
        assert "CSRF" in await resp.text()
    keys = await gw.get("/v1/api-keys", headers=gw.bearer(key))
    assert [k["name"] for k in (await keys.json())["items"]] == ["initial admin key"]
    resp = await page.request.post("/portal/keys", form={"name": "ok", "role": "user", "csrf": await csrf_of(page)})
    assert resp.status == 200  # the same post with the session's token is accepted
    resp = await (await portal.page()).request.post("/portal/sign-in", form={"credential": key}, max_redirects=0)
    assert resp.status == 403  # the sign-in form has its own (double-submit) token


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(portal):
    _, key = await portal.gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    context = page.context
    (cookie,) = [c for c in await context.cookies() if c["name"] == "bz_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    await page.goto("/portal/sign-in")  # signing in again in the same browser: a new id, the old session ends
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/portal/")
    (second,) = [c for c in await context.cookies() if c["name"] == "bz_session"]
    assert second["value"] != cookie["value"]
    stale = await portal.page()
    await stale.context.add_cookies([{"name": "bz_session", "value": cookie["value"], "url": portal.base}])
    assert (await stale.request.get("/portal/", max_redirects=0)).headers["location"] == "/portal/sign-in"

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/portal/sign-in")
    replay = await portal.page()
    await replay.context.add_cookies([{"name": "bz_session", "value": second["value"], "url": portal.base}])
    assert (await replay.request.get("/portal/", max_redirects=0)).status == 303


async def test_revoking_a_key_ends_its_sessions_at_once(portal):
    _, admin_key = await portal.gw.create_tenant("Acme")
    admin_page = await portal.sign_in(admin_key)
    await admin_page.goto("/portal/keys")
    await admin_page.get_by_label("Name").fill("staff")
    await admin_page.get_by_label("Role").select_option("manager")
    await admin_page.get_by_role("button", name="Create key").click()
    staff_key = await admin_page.locator("#new-key").inner_text()
    await admin_page.goto("/portal/keys")
    assert staff_key not in await admin_page.content()  # shown once

    staff = await portal.sign_in(staff_key)
    assert (await staff.goto("/portal/connectors")).status == 200
    await admin_page.get_by_role("button", name=re.compile("^Revoke staff")).click()
    await admin_page.wait_for_url("**/portal/keys?revoked=1")
    await staff.goto("/portal/connectors")
    assert staff.url.endswith("/portal/sign-in")


async def test_the_json_api_refuses_the_session_cookie(portal):
    _, key = await portal.gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    for path in ("/v1/connectors", "/v1/tenant", "/v1/api-keys"):
        resp = await page.request.get(path)
        assert resp.status == 401, path
        assert resp.headers["content-type"] == "application/problem+json"
    resp = await page.request.post("/v1/connectors", data=CONNECT_BODY)
    assert resp.status == 401
    assert (await page.request.get("/v1/connectors", headers={"Authorization": f"Bearer {key}"})).status == 200


async def test_the_console_refuses_a_tenant_session_and_the_portal_an_operator(portal):
    _, key = await portal.gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    assert await page.get_by_role("link", name="Console").count() == 0
    resp = await page.goto("/console/")
    assert resp is not None and resp.status == 403
    operator = await portal.operator()
    resp = await operator.goto("/portal/")
    assert resp is not None and resp.status == 403  # the operator has no tenant
    signin = await portal.page()
    await signin.goto("/portal/sign-in")
    await signin.get_by_label("API key").fill(ADMIN_TOKEN)  # the operator token is no API key
    await signin.get_by_role("button", name="Sign in").click()
    assert "give an API key" in await signin.get_by_role("alert").inner_text()


async def test_key_sign_in_is_off_unless_the_setting_enables_it(make_gateway):
    gw = await make_gateway()  # BIZOSAAS_PORTAL_KEY_SIGNIN defaults to false
    _, key = await gw.create_tenant("Acme")
    form_page = await gw.get("/portal/sign-in")
    assert 'name="credential"' not in await form_page.text()  # no key field offered
    token = form_page.cookies["bz_signin"].value
    resp = await gw.post(
        "/portal/sign-in", data={"credential": key, "csrf": token}, cookies={"bz_signin": token}, allow_redirects=False
    )
    assert resp.status == 403 and "bz_session" not in resp.cookies


async def test_cookies_are_secure_behind_https(make_gateway):
    gw = await make_gateway(portal_key_signin=True, public_url="https://portal.example.com")
    _, key = await gw.create_tenant("Acme")
    form_page = await gw.get("/portal/sign-in")
    token = form_page.cookies["bz_signin"].value
    resp = await gw.post(
        "/portal/sign-in", data={"credential": key, "csrf": token}, cookies={"bz_signin": token}, allow_redirects=False
    )
    assert resp.status == 303
    session = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith("bz_session="))
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} <= {part.strip() for part in session.split(";")}

"""The connector page's sync history keeps itself current by server-sent events (an enhancement: without
JavaScript the page shows the same history as it was when loaded)."""

from __future__ import annotations

from playwright.async_api import expect
from test_portal_access import make_connector

RUN = """INSERT INTO sync_runs (tenant_id, run_id, connector_id, resource, status, started_at, records, added)
         VALUES ($1, 'run_1', $2, 'orders', 'running', now(), 10, 10)"""


async def test_the_sync_history_updates_while_the_page_is_open(portal, admin):
    tenant_id, key = await portal.gw.create_tenant("Acme")
    connector_id = await make_connector(portal.gw, key)
    page = await portal.sign_in(key)
    await page.goto(f"/portal/connectors/{connector_id}")
    history = page.locator("#sync-history")
    await expect(history).to_contain_text("No sync has run yet")
    await page.evaluate("window.notReloaded = true")

    await admin.execute(RUN, tenant_id, connector_id)
    await expect(history).to_contain_text("running", timeout=30_000)
    await admin.execute("UPDATE sync_runs SET status = 'completed', finished_at = now() WHERE run_id = 'run_1'")
    await expect(history).to_contain_text("completed", timeout=30_000)
    assert await page.evaluate("window.notReloaded") is True  # changed in place, not by a reload

    script = await page.request.get("/portal/static/portal.js")
    assert script.status == 200 and "EventSource" in await script.text()


async def test_the_page_is_complete_without_javascript(portal, admin):
    tenant_id, key = await portal.gw.create_tenant("Acme")
    connector_id = await make_connector(portal.gw, key)
    await admin.execute(RUN, tenant_id, connector_id)
    signed_in = await portal.sign_in(key)
    context = await portal.browser.new_context(base_url=portal.base, java_script_enabled=False)
    portal.contexts.append(context)
    await context.add_cookies(await signed_in.context.cookies())
    page = await context.new_page()
    await page.goto(f"/portal/connectors/{connector_id}")
    assert "running" in await page.locator("#sync-history").inner_text()
    await page.get_by_role("button", name="Sync now").click()  # forms work without script
    await page.wait_for_url("**?done=synced")


async def test_another_tenant_gets_no_stream(portal):
    _, a_key = await portal.gw.create_tenant("A")
    connector_id = await make_connector(portal.gw, a_key)
    _, b_key = await portal.gw.create_tenant("B")
    page = await portal.sign_in(b_key)
    resp = await page.request.get(f"/portal/connectors/{connector_id}/live")
    assert resp.status == 404

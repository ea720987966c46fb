"""The portal in a real browser: sign in with an API key, see the home page, connect a WooCommerce store from the
form its provider.toml declares, see the connector listed (and through the JSON API, the same rows); a record's
page; the operator console."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from gateway_helpers import ADMIN_TOKEN, Gateway


async def test_an_admin_connects_a_store_from_the_form_and_sees_it_listed(portal, admin):
    _, key = await portal.gw.create_tenant("Acme Shop")
    page = await portal.sign_in(key)
    assert await page.get_by_role("heading", level=1).inner_text() == "Acme Shop"
    assert "No connectors yet" in await page.locator("main").inner_text()

    await page.get_by_role("link", name="Connectors").click()
    await page.get_by_role("link", name="Connect WooCommerce").click()
    await page.get_by_label("Name").fill("Main store")
    # the fields come from connectors/providers/woocommerce/provider.toml (labels as declared there)
    form = page.locator("form[action='/portal/connectors']")
    names = await form.locator("input:not([type=hidden]), select").evaluate_all("els => els.map(e => e.name)")
    assert {"name", "config.store_url", "secrets.consumer_key", "secrets.consumer_secret"} <= set(names)
    await form.locator("[name='config.store_url']").fill("ftp://shop.example.com")
    await form.locator("[name='secrets.consumer_key']").fill("ck_test")
    await form.locator("[name='secrets.consumer_secret']").fill("cs_test")
    await form.locator("[name='secrets.webhook_secret']").fill("whsec_test")
    await page.get_by_role("button", name="Connect").click()
    # the JSON route's validation, naming the field; what was typed stays, secrets are never echoed back
    alert = page.get_by_role("alert")
    assert "config.store_url" in await alert.inner_text()
    assert await form.locator("[name='config.store_url']").input_value() == "ftp://shop.example.com"
    assert await form.locator("[name='secrets.consumer_key']").input_value() == ""

    await form.locator("[name='config.store_url']").fill("https://shop.example.com")
    await form.locator("[name='secrets.consumer_key']").fill("ck_test")
    await form.locator("[name='secrets.consumer_secret']").fill("cs_test")
    await form.locator("[name='secrets.webhook_secret']").fill("whsec_test")
    await page.get_by_role("button", name="Connect").click()
    await page.wait_for_url(re.compile(r"/portal/connectors/con_[0-9a-f]{32}\?done=created$"))
    connector_id = page.url.split("/")[-1].split("?")[0]
    assert "Connected" in await page.get_by_role("status").inner_text()
    assert f"/v1/webhooks/{connector_id}" in await page.locator("main").inner_text()

    await page.get_by_role("link", name="Connectors").click()
    assert await page.get_by_role("link", name="Main store").count() == 1
    # the same connector through the JSON API: one function wrote it
    resp = await portal.gw.get(f"/v1/connectors/{connector_id}", headers=Gateway.bearer(key))
    assert resp.status == 200 and (await resp.json())["name"] == "Main store"

    await page.get_by_role("link", name="Main store").click()
    await page.get_by_role("button", name="Sync now").click()
    await page.wait_for_url("**?done=synced")
    await page.get_by_role("button", name="Pause scheduled syncs").click()
    await page.wait_for_url("**?done=paused")
    assert await command_body(admin, connector_id, "connector.sync.v1") is not None
    assert (await command_body(admin, connector_id, "connector.schedule.v1"))["paused"] is True

    await page.get_by_label("Also erase everything it imported").check()
    await page.get_by_role("button", name="Disconnect").click()
    await page.wait_for_url("**?done=erased")
    assert await page.get_by_role("button", name="Sync now").count() == 0  # nothing more to do with it
    resp = await portal.gw.get(f"/v1/connectors/{connector_id}", headers=Gateway.bearer(key))
    assert (await resp.json())["status"] == "disconnected"
    assert (await command_body(admin, connector_id, "connector.disconnect.v1"))["erase"] is True


async def test_the_data_pages_show_a_tenants_records(portal, admin):
    tenant_id, key = await portal.gw.create_tenant("Acme")
    await insert_order(admin, tenant_id, "1001", "Order 1001")
    usage = "INSERT INTO usage_counts VALUES ($1, $2, 'commerce.order.upserted.v2', 'woocommerce', $3)"
    await admin.execute(usage, tenant_id, datetime.now(UTC).date(), 41)
    await admin.execute(usage, tenant_id, datetime.now(UTC).date() - timedelta(days=40), 1000)  # an earlier month
    page = await portal.sign_in(key)
    assert (
        "woocommerce\n41"
        in await page.get_by_role("heading", name="Events this month")
        .locator("xpath=following-sibling::ul[1]")
        .inner_text()
    )
    await page.get_by_role("link", name="order").click()
    await page.get_by_role("link", name="Order 1001").click()
    assert "Order 1001" in await page.get_by_role("heading", level=1).inner_text()
    assert '"total": "12.50"' in await page.locator("pre").inner_text()
    await page.goto("/portal/data?kind=order&q=nothing-like-this")
    assert "No order records match" in await page.locator("main").inner_text()


async def test_the_operator_console_lists_tenants_and_streams(portal, redis):
    await portal.gw.create_tenant("Console Co")
    await redis.xadd("bz:events:{0}", {b"x": b"1"})
    await redis.xgroup_create("bz:events:{0}", "projector", id="0")
    page = await portal.operator()
    text = await page.locator("main").inner_text()
    assert "Console Co" in text and "bz:events:{0}" in text and "projector" in text
    assert ADMIN_TOKEN not in await page.content()


async def command_body(admin, connector_id: str, kind: str) -> dict | None:
    """The command of this type the portal issued for the connector (as the JSON route records it)."""
    body = await admin.fetchval("SELECT body FROM commands WHERE connector_id = $1 AND type = $2", connector_id, kind)
    return json.loads(body) if body is not None else None


async def insert_order(admin, tenant_id: str, number: str, title: str) -> str:
    record_id = f"rec_{tenant_id[-8:]}_{number}"
    await admin.execute(
        """INSERT INTO records (tenant_id, kind, source, external_id, id, provider, title, updated_at, recorded_at,
                                data, event_id, stream_ms, stream_seq)
           VALUES ($1, 'order', 'con_test', $2, $3, 'woocommerce', $4, now(), now(), $5::jsonb, 'evt', 1, 0)""",
        tenant_id,
        number,
        record_id,
        title,
        f'{{"number": "{title}", "total": "12.50"}}',
    )
    return record_id

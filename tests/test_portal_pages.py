"""Every page passes axe-core (axe-playwright-python) with no violation of serious or critical impact, and renders
at a phone's width (375 px) without horizontal scrolling. With BIZOSAAS_TEST_SCREENSHOTS=<folder> the pages are
also photographed there (docs/portal/ is made so: see docs/portal.md); a normal run takes none."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from axe_playwright_python.async_playwright import Axe
from gateway_helpers import Gateway
from portal_helpers import PHONE_WIDTH
from portal_records import insert_delivery, insert_run
from test_gateway_admin import order
from test_portal_access import make_connector
from test_portal_flow import insert_order

from events.knowledge import KNOWLEDGE_SOURCE
from events.streams import stream_for_tenant
from gateway.portal.profiles import STEPS
from producers.deadletters import move_to_dead
from producers.publisher import Publisher

BLOCKING = {"serious", "critical"}
SCREENSHOTS = os.environ.get("BIZOSAAS_TEST_SCREENSHOTS", "")


async def check(page, name: str) -> list[str]:
    """What is wrong with the page now: blocking axe violations and horizontal overflow at this width."""
    problems = []
    results = await Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [n["target"] for n in violation["nodes"]][:3]
            problems.append(f"{name}: {violation['id']} ({violation['impact']}) at {targets}: {violation['help']}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    if width > viewport:
        problems.append(f"{name}: {width}px wide at a {viewport}px viewport (horizontal scroll)")
    if SCREENSHOTS:
        # Playwright makes the folder
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}-{viewport}.png"), full_page=True)
    return problems


async def test_every_page_is_accessible_and_fits_a_phone(portal, admin, redis):
    gw: Gateway = portal.gw
    tenant_id, key = await gw.create_tenant("Acme Shop")
    connector_id = await make_connector(gw, key, "Main store")
    record_id = await insert_order(admin, tenant_id, "1001", "Order 1001")
    await admin.execute(  # a knowledge document, as the projector keeps one (the knowledge page lists it)
        """INSERT INTO records (tenant_id, kind, source, external_id, id, title, updated_at, recorded_at, data,
                                event_id, stream_ms, stream_seq)
           VALUES ($1, 'document', $2, 'doc_1', 'rec_doc_1', 'Returns', now(), now(), $3::jsonb, 'evt', 1, 0)""",
        tenant_id,
        KNOWLEDGE_SOURCE,
        '{"title": "Returns", "content": "Refunds in five days.", "media_type": "text/markdown", "size_bytes": 21}',
    )
    await insert_run(admin, tenant_id, "run_1", record_id)
    delivery_id = await insert_delivery(admin, tenant_id, connector_id)
    await Publisher(redis).publish([order(tenant_id, 1001)])
    stream = stream_for_tenant(tenant_id)
    await redis.xgroup_create(stream, "projector", id="0")
    (entry_id, fields), *_ = (await redis.xreadgroup("projector", "c1", {stream: ">"}))[0][1]
    await move_to_dead(redis, "projector", stream, entry_id.decode(), fields, "ValueError: an example", 5)
    # the tenant is at onboarding's last step, so every step's page opens; one chosen service is still to connect
    await admin.execute(
        "INSERT INTO tenant_profiles (tenant_id, providers, onboarding_step) VALUES ($1, $2, 'automations')",
        tenant_id,
        ["woocommerce", "shopify"],
    )
    await admin.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target, detail) VALUES ($1, 'jwt:ann', 'key.created', "
        "'key_1', '{\"role\": \"user\"}')",
        tenant_id,
    )
    tenant_pages = {
        "home": "/portal/",
        "connectors": "/portal/connectors",
        "connect-woocommerce": "/portal/connectors/new?provider=woocommerce",
        "connector": f"/portal/connectors/{connector_id}",
        "data": "/portal/data?kind=order",
        "record": f"/portal/data/order/{record_id}",
        "search": "/portal/search?q=order&mode=keyword",
        "keys": "/portal/keys",
        "team": "/portal/team",
        "audit": "/portal/audit",
        **{f"onboarding-{step}": f"/portal/onboarding?step={step}" for step in STEPS[1:]},
        "knowledge": "/portal/knowledge",
        "agents": "/portal/agents",
        "agent-limits": "/portal/agent-limits",
        "agent-runs": "/portal/agent-runs",
        "approvals": "/portal/approvals",
        "agent-run": "/portal/agent-runs/run_1",
        "chat": "/portal/chat",
        "deliveries": f"/portal/connectors/{connector_id}/deliveries",
        "delivery": f"/portal/deliveries/{delivery_id}",
    }
    problems, seen = [], 0
    for width in (1024, PHONE_WIDTH):
        anonymous = await portal.page(width)
        for name, path in (("sign-in", "/portal/sign-in"), ("console-sign-in", "/console/sign-in")):
            await anonymous.goto(path)
            problems += await check(anonymous, name)
        page = await portal.sign_in(key, width)
        for name, path in tenant_pages.items():
            resp = await page.goto(path)
            assert resp is not None and resp.status == 200, (path, resp and resp.status)
            problems += await check(page, name)
            seen += 1
        await page.get_by_role("button", name="Sign out").click()
        operator = await portal.operator(width)
        problems += await check(operator, "console")
        await operator.goto("/console/dead-letters/projector")
        problems += await check(operator, "dead-letters")
        console_pages = {"stream": f"/console/streams/{quote(stream, safe='')}", "replay": "/console/replay"}
        for name, path in {**console_pages, "health": "/console/health"}.items():
            resp = await operator.goto(path)
            assert resp is not None and resp.status == 200, (path, resp and resp.status)
            problems += await check(operator, name)
    assert seen == 2 * len(tenant_pages)
    assert problems == []


async def test_the_check_finds_what_it_looks_for(portal):
    """The check above can fail: a page with an unlabelled field and a wide block is caught."""
    page = await portal.page(PHONE_WIDTH)
    broken = '<html lang="en"><body><main><input><div style="width:900px">wide</div></main></body></html>'
    await page.set_content(broken)
    problems = await check(page, "broken")
    assert any("label" in p for p in problems) and any("horizontal scroll" in p for p in problems)

"""Issue 12's first browser test as one journey, every step in Chromium against a gateway on the real servers: a new
person signs in by OIDC with no tenant (the local issuer of tests/portal_helpers.py), walks the six onboarding steps
connecting WooCommerce to the local store of tests/providers/woocommerce_server.py, sees its history imported (the
connectors' real Temporal worker of the `temporal` fixture, the commands group and the projector), opens an order,
finds a product by its SKU, enables Order fulfilment to act after approval, syncs an order that became paid, sees
the run it woke (the agents group, run starter and agent workflow, tests/llm_server.py as the model) awaiting
approval, approves it in the inbox, and the proposed stock change becomes a command that changes the store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from agent_helpers import llm_config, starting
from factories import running, wait_for
from temporalio.client import Client
from test_portal_onboarding import shop, sign_in  # noqa: F401 - shop is a fixture

from connectors.config import ConnectorsConfig
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

CHAIN_S = 150.0  # a deadline for a real chain (a sync; a run, whose first start imports CrewAI), loaded machine


async def test_a_new_person_onboards_imports_finds_enables_an_agent_and_approves_its_action(
    oidc_portal,
    shop,  # noqa: F811
    temporal,
    temporal_server,
    pool,
    redis,
    admin,
    llm,
):
    pytest.importorskip("agents.temporal.worker", reason="the run workflow lands with branch agent-runs")
    from agents.temporal.activities import AgentDeps
    from agents.temporal.worker import build_worker
    from consumers.agents import agents_group

    portal, provider = oidc_portal
    shop.seed(orders=3, products=3, customers=2)
    unpaid, product = shop.ids("orders")[-1], shop.ids("products")[0]
    shop.objects["orders"][unpaid]["status"] = "on-hold"  # paid later: the update that wakes the agent
    restock = {"action": "woocommerce.update_stock", "input": {"product_id": str(product), "stock_quantity": 8}}
    llm.rule(
        rf"A paid order is waiting.*\b{unpaid}\b",
        json={
            "can_ship": True,
            "summary": f"Ship order {unpaid}",
            "blockers": [],
            "actions": [restock | {"reason": "2 leave"}],
        },
    )
    provider.claims = {"sub": "jules", "name": "Jules Journey"}

    agents_client = await Client.connect(temporal_server.url)
    deps = AgentDeps(pool, Publisher(redis), llm_config(llm, agent_coalesce_s=0.2), None)
    runner = RunnerContext(pool, redis, temporal, ConnectorsConfig(allow_private_urls=True), DEFAULT_PARTITIONS)
    async with build_worker(agents_client, deps), starting(pool, agents_client) as starter:
        groups = [
            projector_group(pool, DEFAULT_PARTITIONS),
            commands_group(runner),
            # ttl 0: the enabled agents are read on every batch, so the agent enabled a moment ago is seen at once
            agents_group(pool, DEFAULT_PARTITIONS, ttl_s=0, queued=starter.queued),
        ]
        async with running(redis, groups):
            page = await portal.page()
            await _onboard(page, shop)
            connector = await _history_imported(page)
            await _open_an_order_and_find_a_product(page, product)
            await _enable_order_fulfilment(page)

            # the payment arrived at the store a moment ago: an incremental run reads up to its start time, exclusive
            # and in whole seconds (connectors/sync.py), so a change in the same second as "Sync now" waits for the
            # next run
            shop.change("orders", unpaid, when=datetime.now(UTC) - timedelta(seconds=2), status="processing")
            await page.goto(f"/portal/connectors/{connector}")
            await page.get_by_role("button", name="Sync now").click()
            await page.wait_for_url("**?done=synced")

            await _nav(page, "Approvals")
            inbox = page.locator("main section")
            try:
                await wait_for(lambda: _reloaded(page, inbox.count), 1, timeout_s=CHAIN_S)
            except AssertionError as exc:  # say where the chain stopped
                raise AssertionError(await _chain_state(page, admin, llm, connector)) from exc
            assert f"Ship order {unpaid}" in await inbox.inner_text()
            assert f"order {unpaid}" in await inbox.get_by_role("heading").inner_text()
            await inbox.get_by_role("button", name=re.compile("^Approve run ")).click()
            await page.wait_for_url("**/portal/approvals?done=approved")
            await wait_for(lambda: _reloaded(page, inbox.count), 0, timeout_s=CHAIN_S)  # once the run moved on

            await _nav(page, "Agent runs")
            await page.get_by_role("link", name="order-fulfilment").first.click()
            state = page.locator("#run-state")
            await state.get_by_text("completed (approved)").wait_for(timeout=CHAIN_S * 1000)
            # the approved action became a command, which the connectors' worker carried out at the store
            command = await _one_action_command(admin, connector)
            assert command["id"] in await state.inner_text()
            await wait_for(lambda: _stock(shop, product), 8, timeout_s=CHAIN_S)
    assert command["body"]["action"] == "update_stock" and command["body"]["input"] == restock["input"]


async def _onboard(page, shop) -> None:  # noqa: F811
    await sign_in(page, "Step 1")
    await page.get_by_label("Business name").fill("Jules's Juices")
    await page.get_by_role("button", name="Create my business").click()
    await page.wait_for_url("**/portal/onboarding")
    await page.get_by_label("Industry").select_option("Retail and e-commerce")
    await page.get_by_label("Sell more online").check()
    await page.get_by_role("button", name="Save and continue").click()
    await page.wait_for_url("**/portal/onboarding")
    await page.get_by_label("WooCommerce").check()
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/portal/onboarding")
    form = page.locator("form[action='/portal/onboarding/credentials']").first
    await form.get_by_label("Name").fill("Juice shop")
    await form.locator("[name='config.store_url']").fill(shop.url)
    await form.locator("[name='secrets.consumer_key']").fill(shop.consumer_key)
    await form.locator("[name='secrets.consumer_secret']").fill(shop.consumer_secret)
    await form.get_by_role("button", name="Connect").click()
    await page.wait_for_url("**/portal/onboarding?done=connected")
    assert "Step 5 of 6" in await page.get_by_role("heading", level=2).inner_text()
    await page.get_by_role("button", name="Activate my personal agent").click()
    await page.wait_for_url("**/portal/onboarding")
    assert "Step 6 of 6" in await page.get_by_role("heading", level=2).inner_text()
    for box in await page.get_by_role("checkbox").all():  # the agents come later, from the agents page
        await box.uncheck()
    await page.get_by_role("button", name="Enable and finish").click()
    await page.get_by_role("heading", name="You are set up").wait_for()


async def _history_imported(page) -> str:
    """The connector page's live sync history shows the initial import done; answers the connector's id."""
    await _nav(page, "Connectors")
    await page.get_by_role("link", name="Juice shop").click()
    connector = page.url.rsplit("/", 1)[-1]
    history = page.get_by_role("region", name="Sync history")
    for resource, count in (("orders", 3), ("products", 3), ("customers", 2)):
        row = history.get_by_role("row").filter(has=page.get_by_role("cell", name=resource, exact=True))
        done = row.filter(has=page.get_by_role("cell", name="completed", exact=True))
        await done.first.wait_for(timeout=CHAIN_S * 1000)  # the page follows the syncs by server-sent events
        # on a busy machine a second full run of a resource completed a second after the import (seen once, on
        # products; its trigger was not found): one of the completed runs is the import
        runs = await done.all_inner_texts()
        assert any(re.search(rf"\bfull\b.*\b{count} / 0 / 0\b", run) for run in runs), runs
    await _nav(page, "Home")
    counts = await page.get_by_role("heading", name="Records").locator("xpath=following-sibling::ul[1]").inner_text()
    # the projector wrote them before the syncs ended; the contacts are the 2 customers and the 3 orders' buyers
    for kind, count in (("contact", 5), ("order", 3), ("product", 3)):
        assert re.search(rf"\b{kind}\s+{count}\b", counts), counts
    return connector


async def _open_an_order_and_find_a_product(page, product: int) -> None:
    await page.get_by_role("link", name="order", exact=True).click()
    await page.get_by_role("link", name="1001", exact=True).click()
    assert "1001" in await page.get_by_role("heading", level=1).inner_text()
    assert "buyer0@example.com" in await page.locator("main").inner_text()
    # its history from the event log: the import's event, opened to show what was published
    history = page.get_by_role("heading", name="History").locator("xpath=following-sibling::ol[1]")
    await history.locator("summary").first.click()
    assert "commerce.order.upserted.v2" in await history.inner_text()
    assert '"number": "1001"' in await history.locator("pre").first.inner_text()

    await _nav(page, "Search")
    await page.get_by_label("Search for").fill(f"SKU-{product}")
    await page.get_by_label("How").select_option("keyword")  # words: the typed columns, no model to wait for
    await page.get_by_role("button", name="Search").click()
    hits = page.locator("main ol li")
    assert await hits.count() == 1 and "(product)" in await hits.inner_text()
    await hits.get_by_role("link").click()
    assert f"SKU-{product}" in await page.locator("main").inner_text()


async def _enable_order_fulfilment(page) -> None:
    await _nav(page, "Agents")
    await page.get_by_role("button", name="Enable Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    await page.get_by_label("Autonomy of Order fulfilment", exact=True).select_option("act")  # act after approval
    await page.get_by_role("button", name="Set the autonomy of Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    row = page.locator("#agent-order-fulfilment")
    assert re.search(r"enabled\s+acts after approval", await row.inner_text())


async def _nav(page, name: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


async def _chain_state(page, admin, llm, connector: str) -> str:
    await page.goto(f"/portal/connectors/{connector}")
    syncs = await page.locator("main").inner_text()
    await page.goto("/portal/agent-runs")
    runs = await page.locator("main").inner_text()
    requests = [dict(r) for r in await admin.fetch("SELECT * FROM agent_run_requests")]
    return f"syncs: {syncs}\nruns: {runs}\nrun requests: {requests}\nmodel asked {len(llm.requests)} times"


async def _reloaded(page, probe):
    """Load the page again, then read it (for wait_for: pages without a live part)."""
    await page.reload()
    return await probe()


async def _stock(store, product: int) -> int:
    return store.objects["products"][product]["stock_quantity"]


async def _one_action_command(admin, connector: str) -> dict:
    rows = await admin.fetch(
        "SELECT id, body FROM commands WHERE connector_id = $1 AND type = 'connector.action.v1'", connector
    )
    assert len(rows) == 1, rows
    return {"id": rows[0]["id"], "body": json.loads(rows[0]["body"])}

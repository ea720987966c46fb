"""The agents pages: an admin enables an agent from the catalog page, the agent's run (woken by an order update,
answered by tests/llm_server.py through the real agents group, run starter, Temporal workflow and projector, as in
tests/test_agent_runs_flow.py) shows in the runs list and the approval inbox with its citation, approving it from the
page turns its proposed action into a connector.action.v1 command and the open run page shows it completed. A `user`
sees no controls and is refused when posting directly, another tenant never sees the run, a form without its CSRF
token is refused (those start from a projected run row: tests/portal_records.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import msgspec
import pytest
from agent_helpers import insert_record, llm_config, starting
from factories import order, running, wait_for
from gateway_helpers import Gateway
from portal_records import RESTOCK, insert_run
from test_portal_flow import insert_order
from test_portal_roles import signed_in
from webhook_support import connector_body

from events import codec
from events.streams import COMMANDS_STREAM
from producers.publisher import Publisher

ANSWER = {"can_ship": True, "summary": "Line 799 is low: restock it", "blockers": []}


async def sent_commands(redis, kind: str) -> list:
    found = [codec.decode_command(f[codec.EVENT_FIELD]) for _, f in await redis.xrange(COMMANDS_STREAM)]
    return [c for c in found if c.type == kind]


async def _set_mode(page, gw: Gateway, key: str, mode: str) -> dict:
    await page.get_by_label("Autonomy of Order fulfilment", exact=True).select_option(mode)
    await page.get_by_role("button", name="Set the autonomy of Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    return await (await gw.get("/v1/agents/order-fulfilment", headers=gw.bearer(key))).json()


async def test_an_admin_enables_an_agent_and_approves_its_run_from_the_pages(
    portal, admin, redis, pool, temporal_server, llm
):
    pytest.importorskip("agents.temporal.worker", reason="the run workflow lands with branch agent-runs")
    from temporalio.client import Client

    from agents.temporal.activities import AgentDeps
    from agents.temporal.worker import build_worker
    from consumers.agents import agents_group
    from consumers.commands import RunnerContext, commands_group
    from consumers.projector import projector_group

    gw: Gateway = portal.gw
    llm.rule("order 727", json=ANSWER | {"actions": [RESTOCK]})
    tenant_id, key = await gw.create_tenant("Acme Shop")
    resp = await gw.post("/v1/connectors", headers=gw.bearer(key), json=connector_body("woocommerce", "s", "shop"))
    connector = (await resp.json())["id"]
    record_id = await insert_record(admin, tenant_id, "order", "727", "processing", {"number": "727"}, connector)
    page = await portal.sign_in(key)
    await page.get_by_role("link", name="Agents", exact=True).click()
    assert await page.locator("h2").count() == 6  # the six categories
    assert await page.get_by_role("button", name=re.compile("^(Enable|Disable) ")).count() == 93
    await page.get_by_role("button", name="Enable Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("button", name="Disable Order fulfilment").count() == 1
    state = await (await gw.get("/v1/agents/order-fulfilment", headers=gw.bearer(key))).json()
    assert state["enabled"] is True
    state = await _set_mode(page, gw, key, "act-unattended")
    assert (state["autonomy"], state["act_without_approval"]) == ("act", True)
    state = await _set_mode(page, gw, key, "act")  # acts, after a person's approval
    assert (state["autonomy"], state["act_without_approval"]) == ("act", False)

    client = await Client.connect(temporal_server.url)
    deps = AgentDeps(pool, Publisher(redis), llm_config(llm, agent_coalesce_s=0.2), None)
    async with build_worker(client, deps), starting(pool, client) as starter:
        groups = [
            projector_group(pool, 8),
            agents_group(pool, 8, queued=starter.queued),
            commands_group(RunnerContext(pool, redis, client)),
        ]
        async with running(redis, groups):
            update = order(tenant_id, "727", version=1, source=connector)
            await Publisher(redis).publish(
                [msgspec.structs.replace(update, data=msgspec.structs.replace(update.data, status="processing"))]
            )
            await page.get_by_role("link", name="Agent runs").click()
            await wait_for(lambda: _shows(page, "awaiting approval"), timeout_s=90)
            await page.get_by_role("link", name="Approvals").click()
            assert "Line 799 is low" in await page.locator("main").inner_text()
            await page.get_by_role("link", name="order-fulfilment").click()  # the run's page: output, citations
            await page.get_by_role("link", name=re.compile("^order ")).first.click()
            await page.wait_for_url(f"**/portal/data/order/{record_id}")
            await page.go_back()
            await page.get_by_role("button", name=re.compile("^Approve run ")).click()
            await page.wait_for_url("**/portal/agent-runs/*?done=approved")
            actions = await wait_for(lambda: sent_commands(redis, "connector.action.v1"), timeout_s=90)
            # the open run page follows the run: completed, with the command its approval issued
            state = page.locator("#run-state")
            await state.get_by_text("completed (approved)").wait_for(timeout=90_000)
    assert [(a.connector_id, a.action, a.input) for a in actions] == [(connector, "update_stock", RESTOCK["input"])]
    assert actions[0].id in await state.inner_text() and await state.get_by_role("button").count() == 0
    decided = await sent_commands(redis, "agent.run.decide.v1")
    assert [(c.approved, c.tenant_id) for c in decided] == [(True, tenant_id)]
    audited = await admin.fetch("SELECT action, target FROM audit_log WHERE tenant_id = $1", tenant_id)
    assert [(r["action"], r["target"]) for r in audited] == [("agent_run.approved", decided[0].run_id)]


async def _shows(page, text: str) -> bool:
    """Whether the page, loaded again, shows `text` (the runs list has no live part)."""
    await page.reload()
    table = page.locator("main table")  # not the status filter, whose options name every status
    return await table.count() == 1 and text in await table.inner_text()


async def test_a_user_gets_no_controls_another_tenant_sees_nothing_and_csrf_is_required(make_gateway, admin, redis):
    gw = await make_gateway(portal_key_signin=True)
    tenant_id, admin_key = await gw.create_tenant("A")
    await insert_run(admin, tenant_id, "run_a", await insert_order(admin, tenant_id, "1001", "Order 1001"))
    _, other_key = await gw.create_tenant("B")
    user, user_csrf = await signed_in(gw, await gw.create_key(admin_key, "user"), "/portal/sign-in")
    other, other_csrf = await signed_in(gw, other_key, "/portal/sign-in")
    owner, owner_csrf = await signed_in(gw, admin_key, "/portal/sign-in")
    try:
        agents = await (await user.get("/portal/agents")).text()
        assert "Order fulfilment" in agents and 'name="enabled"' not in agents and 'name="mode"' not in agents
        inbox = await (await user.get("/portal/approvals")).text()
        assert "Line 799 is low" in inbox and "Approve" not in inbox and "Reject" not in inbox
        for path in ("/portal/agents/order-fulfilment", "/portal/agent-runs/run_a/approve"):
            refused = await user.post(path, data={"csrf": user_csrf, "enabled": "true"}, allow_redirects=False)
            assert refused.status == 403, path

        assert "run_a" not in await (await other.get("/portal/agent-runs")).text()
        assert "run_a" not in await (await other.get("/portal/approvals")).text()
        assert (await other.get("/portal/agent-runs/run_a")).status == 404
        assert (await other.get("/portal/agent-runs/run_a/live")).status == 404  # no stream of A's run either
        foreign = await other.post("/portal/agent-runs/run_a/approve", data={"csrf": other_csrf}, allow_redirects=False)
        assert foreign.status == 404

        for path in ("/portal/agents/order-fulfilment", "/portal/agent-runs/run_a/approve"):
            forged = await owner.post(path, data={"enabled": "true"}, allow_redirects=False)
            assert forged.status == 403 and "CSRF" in await forged.text(), path
        assert await sent_commands(redis, "agent.run.decide.v1") == []  # nothing refused above decided anything
        assert await admin.fetchval("SELECT count(*) FROM agent_settings WHERE tenant_id = $1", tenant_id) == 0

        form = {"csrf": owner_csrf, "back": "approvals", "reason": "not this week"}
        rejected = await owner.post("/portal/agent-runs/run_a/reject", data=form, allow_redirects=False)
        assert rejected.status == 303 and rejected.headers["Location"] == "/portal/approvals?done=rejected"
    finally:
        for session in (user, other, owner):
            await session.close()
    decided = await sent_commands(redis, "agent.run.decide.v1")
    assert [(c.run_id, c.approved, c.reason) for c in decided] == [("run_a", False, "not this week")]
    audited = await admin.fetch("SELECT tenant_id, actor, action, target, detail FROM audit_log WHERE target = 'run_a'")
    assert [(r["tenant_id"], r["action"]) for r in audited] == [(tenant_id, "agent_run.rejected")]
    assert json.loads(audited[0]["detail"]) == {"command": decided[0].id, "reason": "not this week"}
    assert audited[0]["actor"].startswith("api_key:")


async def test_the_agent_limits_page_shows_todays_use_and_only_an_admin_changes_the_limits(make_gateway, admin):
    gw = await make_gateway(portal_key_signin=True, agent_daily_token_budget=50_000, agent_max_concurrent_runs=3)
    tenant_id, key = await gw.create_tenant("Acme")
    usage = "INSERT INTO agent_run_usage (tenant_id, run_id, agent_id, tokens, released_at) VALUES ($1, $2, $3, $4, $5)"
    await admin.execute(usage, tenant_id, "chat_1", "personal", 1200, datetime.now(UTC))  # a chat turn, released
    await admin.execute(usage, tenant_id, "run_1", "order-fulfilment", 300, None)  # a run holding a slot
    owner, csrf = await signed_in(gw, key, "/portal/sign-in")
    manager, manager_csrf = await signed_in(gw, await gw.create_key(key, "manager"), "/portal/sign-in")
    try:
        assert "/portal/agent-limits" in await (await owner.get("/portal/agents")).text()
        shown = await (await manager.get("/portal/agent-limits")).text()
        assert "1,500 of 50,000" in shown and "1 of 3 at once" in shown  # today's tokens and runs, of the limits
        assert 'name="daily_token_budget"' not in shown and "A tenant admin changes them" in shown
        form = {"csrf": manager_csrf, "daily_token_budget": "1"}
        assert (await manager.post("/portal/agent-limits", data=form, allow_redirects=False)).status == 403

        too_much = {"csrf": csrf, "daily_token_budget": "60000", "max_concurrent_runs": "2"}
        refused = await owner.post("/portal/agent-limits", data=too_much, allow_redirects=False)
        text = await refused.text()  # PATCH /v1/agent-limits' own refusal, naming the field; what was typed stays
        assert refused.status == 422 and "daily_token_budget: at most 50000" in text and 'value="60000"' in text
        saved = await owner.post(
            "/portal/agent-limits", data=too_much | {"daily_token_budget": "20000"}, allow_redirects=False
        )
        assert saved.status == 303 and saved.headers["Location"] == "/portal/agent-limits?done=saved"
        limits = await (await gw.get("/v1/agent-limits", headers=gw.bearer(key))).json()
        assert (limits["daily_token_budget"], limits["max_concurrent_runs"]) == (20_000, 2)
        assert "1,500 of 20,000" in await (await owner.get("/portal/agent-limits")).text()

        default = {"csrf": csrf, "daily_token_budget": "", "max_concurrent_runs": "2"}  # empty: the deployment's
        assert (await owner.post("/portal/agent-limits", data=default, allow_redirects=False)).status == 303
        limits = await (await gw.get("/v1/agent-limits", headers=gw.bearer(key))).json()
        assert (limits["daily_token_budget"], limits["max_concurrent_runs"]) == (50_000, 2)
        for bad in ({"max_concurrent_runs": "0"}, {"daily_token_budget": "lots"}):
            resp = await owner.post("/portal/agent-limits", data={"csrf": csrf} | bad, allow_redirects=False)
            assert resp.status == 422 and next(iter(bad)) in await resp.text(), bad
    finally:
        await owner.close()
        await manager.close()

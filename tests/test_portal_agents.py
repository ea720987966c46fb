"""The agents pages: an admin enables an agent from the catalog page and approves a run from the approval inbox (the
decision is the same command POST /v1/agent-runs/{id}/approve issues), a `user` sees no controls and is refused when
posting directly, another tenant never sees the run, a form without its CSRF token is refused.

A run awaiting approval is a row of the `agent_runs` projection as the projector leaves it (inserted as the owner:
test set-up, like tests/test_portal_flow.py's records); what the decision does after the command is sent (the run
workflow issuing the proposed action) is tests/test_agent_runs_flow.py's subject."""

from __future__ import annotations

import re

from gateway_helpers import Gateway
from portal_records import insert_run
from test_portal_flow import insert_order
from test_portal_roles import signed_in

from events import codec
from events.streams import COMMANDS_STREAM


async def sent_commands(redis, kind: str) -> list:
    found = [codec.decode_command(f[codec.EVENT_FIELD]) for _, f in await redis.xrange(COMMANDS_STREAM)]
    return [c for c in found if c.type == kind]


async def test_an_admin_enables_an_agent_and_approves_its_run_from_the_pages(portal, admin, redis):
    gw: Gateway = portal.gw
    tenant_id, key = await gw.create_tenant("Acme Shop")
    record_id = await insert_order(admin, tenant_id, "1001", "Order 1001")
    page = await portal.sign_in(key)
    await page.get_by_role("link", name="Agents", exact=True).click()
    assert await page.locator("h2").count() == 6  # the six categories
    assert await page.get_by_role("button", name=re.compile("^(Enable|Disable) ")).count() == 93
    await page.get_by_role("button", name="Enable Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("button", name="Disable Order fulfilment").count() == 1
    state = await (await gw.get("/v1/agents/order-fulfilment", headers=gw.bearer(key))).json()
    assert state["enabled"] is True
    await page.get_by_label("Autonomy of Order fulfilment", exact=True).select_option("act-unattended")
    await page.get_by_role("button", name="Set the autonomy of Order fulfilment").click()
    await page.get_by_role("status").wait_for()
    state = await (await gw.get("/v1/agents/order-fulfilment", headers=gw.bearer(key))).json()
    assert (state["autonomy"], state["act_without_approval"]) == ("act", True)

    await insert_run(admin, tenant_id, "run_portal_1", record_id)
    await page.get_by_role("link", name="Agent runs").click()
    listed = page.get_by_role("region", name="Agent runs")
    assert "awaiting approval" in await listed.inner_text() and "Line 799 is low" in await listed.inner_text()
    await page.get_by_role("link", name="Approvals").click()
    assert "Line 799 is low" in await page.locator("main").inner_text()
    await page.get_by_role("link", name="order-fulfilment").click()  # the run's own page: output and citations
    await page.get_by_role("link", name="order Order 1001").click()
    await page.wait_for_url(f"**/portal/data/order/{record_id}")
    await page.go_back()
    await page.get_by_role("button", name="Approve run run_portal_1 of order-fulfilment").click()
    await page.wait_for_url("**/portal/agent-runs/run_portal_1?done=approved")
    decided = await sent_commands(redis, "agent.run.decide.v1")
    assert [(c.run_id, c.approved, c.tenant_id) for c in decided] == [("run_portal_1", True, tenant_id)]
    recorded = await admin.fetchval("SELECT type FROM commands WHERE id = $1", decided[0].id)
    assert recorded == "agent.run.decide.v1"
    # the run's page follows the run: the projector records it completed, the open page shows it without a reload
    state = page.locator("#run-state")
    assert "awaiting approval" in await state.inner_text()
    await admin.execute(
        """UPDATE agent_runs SET status = 'completed', status_rank = 3, decision = 'approved',
                  commands = '["cmd_restock"]', finished_at = now() WHERE run_id = 'run_portal_1'"""
    )
    await state.get_by_text("completed (approved)").wait_for()
    assert "cmd_restock" in await state.inner_text() and await state.get_by_role("button").count() == 0


async def test_a_user_gets_no_controls_another_tenant_sees_nothing_and_csrf_is_required(make_gateway, admin, redis):
    gw = await make_gateway(portal_key_signin=True)
    tenant_id, admin_key = await gw.create_tenant("A")
    await insert_run(admin, tenant_id, "run_a", await insert_order(admin, tenant_id, "1001", "Order 1001"))
    _, other_key = await gw.create_tenant("B")
    user, user_csrf = await signed_in(gw, await gw.create_key(admin_key, "user"), "/portal/sign-in")
    other, other_csrf = await signed_in(gw, other_key, "/portal/sign-in")
    owner, _ = await signed_in(gw, admin_key, "/portal/sign-in")
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
    finally:
        for session in (user, other, owner):
            await session.close()
    assert await sent_commands(redis, "agent.run.decide.v1") == []
    assert await admin.fetchval("SELECT count(*) FROM agent_settings WHERE tenant_id = $1", tenant_id) == 0

"""GET /v1/agent-runs (filters, paging), GET /v1/agent-runs/{id}, and approve/reject as commands; all read from the
projection the projector keeps from real agent.run.* events, under row-level security."""

from __future__ import annotations

from agent_run_events import lifecycle, run_event
from factories import running, wait_for
from gateway_helpers import Gateway

from consumers.projector import projector_group
from events import codec
from events.streams import COMMANDS_STREAM
from events.types import AgentRunFailed, AgentRunStarted
from producers.publisher import Publisher


async def _project(gw: Gateway, redis, pool, admin, tenant: str) -> None:
    """Tenant's runs: run_0 .. run_3 complete (order-fulfilment), run_wait awaiting approval, run_lead failed."""
    events = [e for i in range(4) for e in lifecycle(tenant, f"run_{i}")]
    started, awaiting, _ = lifecycle(tenant, "run_wait")
    lead = [
        run_event(AgentRunStarted, tenant, "run_lead", 9, agent="lead-scoring", trigger_id="evt_9"),
        run_event(AgentRunFailed, tenant, "run_lead", 10, agent="lead-scoring", error="no language model configured"),
    ]
    await Publisher(redis).publish([*events, started, awaiting, *lead])
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM agent_runs WHERE tenant_id = $1", tenant), 6)


async def _list(gw: Gateway, key: str, **params) -> dict:
    resp = await gw.get("/v1/agent-runs", params=params, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_list_filter_page_and_read_one(gw: Gateway, redis, pool, admin):
    tenant, key = await gw.create_tenant("alpha")
    await _project(gw, redis, pool, admin, tenant)
    everything = (await _list(gw, key))["items"]
    assert len(everything) == 6 and everything[0]["id"] == "run_lead"  # newest first (it started last)
    statuses = {r["id"]: r["status"] for r in everything}
    assert statuses["run_wait"] == "awaiting_approval" and statuses["run_lead"] == "failed"

    paged, cursor, pages = [], None, 0
    while True:
        body = await _list(gw, key, limit="4", **({"cursor": cursor} if cursor else {}))
        paged += [r["id"] for r in body["items"]]
        pages += 1
        if not (cursor := body["next"]):
            break
    assert paged == [r["id"] for r in everything] and pages == 2

    by_agent = (await _list(gw, key, agent="lead-scoring"))["items"]
    assert [r["id"] for r in by_agent] == ["run_lead"] and by_agent[0]["error"] == "no language model configured"
    waiting = (await _list(gw, key, status="awaiting_approval"))["items"]
    assert [r["id"] for r in waiting] == ["run_wait"] and waiting[0]["actions"][0]["reason"] == "paid"
    bad = await gw.get("/v1/agent-runs", params={"status": "running"}, headers=gw.bearer(key))
    assert bad.status == 422 and bad.content_type == "application/problem+json"
    assert "status" in (await bad.json())["detail"]

    one = await (await gw.get("/v1/agent-runs/run_0", headers=gw.bearer(key))).json()
    assert one["status"] == "completed" and one["subject"] == {"kind": "order", "external_id": "1001"}
    assert one["decision"] == "approved" and one["commands"] == ["cmd_1"] and one["output"] == {"summary": "done"}
    assert (one["tokens_in"], one["cost_micro_usd"], one["trigger_id"], one["triggers"]) == (120, 900, "evt_1", 3)
    missing = await gw.get("/v1/agent-runs/run_nope", headers=gw.bearer(key))
    assert missing.status == 404 and missing.content_type == "application/problem+json"


async def test_approve_and_reject_are_commands_only_while_awaiting_approval(gw: Gateway, redis, pool, admin):
    tenant, key = await gw.create_tenant("alpha")
    await _project(gw, redis, pool, admin, tenant)
    done = await gw.post("/v1/agent-runs/run_0/approve", headers=gw.bearer(key))
    assert done.status == 409 and done.content_type == "application/problem+json"
    assert "completed, not awaiting approval" in (await done.json())["detail"]
    assert (await gw.post("/v1/agent-runs/run_nope/reject", headers=gw.bearer(key))).status == 404
    user = await gw.create_key(key, "user")
    assert (await gw.post("/v1/agent-runs/run_wait/approve", headers=gw.bearer(user))).status == 403
    assert await redis.xlen(COMMANDS_STREAM) == 0  # nothing was issued by a refused request

    approved = await gw.post("/v1/agent-runs/run_wait/approve", headers=gw.bearer(key))  # no body
    rejected = await gw.post("/v1/agent-runs/run_wait/reject", json={"reason": "wrong address"}, headers=gw.bearer(key))
    assert approved.status == rejected.status == 202
    views = [await approved.json(), await rejected.json()]
    assert {v["type"] for v in views} == {"agent.run.decide.v1"} and views[0]["status"] == "accepted"
    assert approved.headers["Location"] == f"/v1/commands/{views[0]['id']}"
    sent = [codec.decode_command(f[codec.EVENT_FIELD]) for _, f in await redis.xrange(COMMANDS_STREAM)]
    assert [(c.id, c.run_id, c.approved, c.reason) for c in sent] == [
        (views[0]["id"], "run_wait", True, ""),
        (views[1]["id"], "run_wait", False, "wrong address"),
    ]
    assert sent[0].tenant_id == tenant and sent[0].issued_by == views[0]["issued_by"] != ""  # the caller's key
    listed = await (await gw.get(f"/v1/commands/{views[1]['id']}", headers=gw.bearer(key))).json()
    assert listed["type"] == "agent.run.decide.v1"
    too_long = await gw.post("/v1/agent-runs/run_wait/reject", json={"reason": "x" * 2001}, headers=gw.bearer(key))
    assert too_long.status == 422 and "reason" in (await too_long.json())["detail"]


async def test_another_tenant_sees_and_decides_nothing(gw: Gateway, redis, pool, admin):
    tenant_a, key_a = await gw.create_tenant("alpha")
    _, key_b = await gw.create_tenant("bravo")
    await _project(gw, redis, pool, admin, tenant_a)
    member_b = await gw.create_key(key_b, "manager")
    assert len((await _list(gw, key_a))["items"]) == 6
    assert (await _list(gw, member_b)) == {"items": [], "next": None}
    assert (await _list(gw, member_b, status="awaiting_approval"))["items"] == []
    for path in ("/v1/agent-runs/run_wait", "/v1/agent-runs/run_0"):
        assert (await gw.get(path, headers=gw.bearer(member_b))).status == 404
    assert (await gw.post("/v1/agent-runs/run_wait/approve", headers=gw.bearer(member_b))).status == 404
    assert await redis.xlen(COMMANDS_STREAM) == 0

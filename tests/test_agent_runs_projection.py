"""The agent_runs projection: kept by the projector from the agent.run.* events, order-tolerant and idempotent, and
rebuilt from event_log."""

from __future__ import annotations

import json
from datetime import timedelta

from agent_run_events import lifecycle, run_event
from factories import T0, running, wait_for

from consumers.projector import projector_group
from consumers.rebuild import rebuild_records
from events.streams import all_event_streams
from events.types import (
    AgentRunDeferred,
    AgentRunFailed,
    AgentRunStarted,
)
from producers.publisher import Publisher

COLUMNS = (
    "tenant_id, run_id, agent, status, source, trigger_id, triggers, subject_kind, subject_external_id, inputs, "
    "output, actions, citations, decision, commands, tokens_in, tokens_out, cost_micro_usd, latency_ms, error, "
    "reason, expires_at, started_at, finished_at"
)


async def _runs(admin) -> dict[str, dict]:
    rows = await admin.fetch(f"SELECT {COLUMNS} FROM agent_runs ORDER BY tenant_id, run_id")
    out = {}
    for r in rows:
        row = dict(r)
        for name in ("inputs", "output", "actions", "citations", "commands"):
            row[name] = json.loads(row[name]) if row[name] is not None else None
        out[row["run_id"]] = row
    return out


async def _count(admin, sql: str):
    return await admin.fetchval(sql)


async def test_every_run_event_is_projected(redis, pool, admin):
    failed = [
        run_event(AgentRunDeferred, "t1", "run_b", 1, reason="daily token budget spent", agent="lead-scoring"),
        run_event(AgentRunStarted, "t1", "run_b", 5, trigger_id="cmd_9", agent="lead-scoring"),
        run_event(AgentRunFailed, "t1", "run_b", 6, error="no language model configured", agent="lead-scoring"),
    ]
    await Publisher(redis).publish([*lifecycle("t1", "run_a"), *failed])
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM event_log"), 6)
    runs = await _runs(admin)
    a, b = runs["run_a"], runs["run_b"]
    assert (a["status"], a["agent"], a["source"], a["trigger_id"], a["triggers"]) == (
        "completed",
        "order-fulfilment",
        "con_shop",
        "evt_1",
        3,
    )
    assert (a["subject_kind"], a["subject_external_id"]) == ("order", "1001")
    assert a["output"] == {"summary": "done"} and a["decision"] == "approved" and a["commands"] == ["cmd_1"]
    assert a["actions"][0]["action"] == "woocommerce.update_order" and len(a["citations"]) == 2
    assert (a["tokens_in"], a["tokens_out"], a["cost_micro_usd"], a["latency_ms"]) == (120, 45, 900, 2500)
    assert a["started_at"] == T0 + timedelta(minutes=1) and a["finished_at"] == T0 + timedelta(minutes=3)
    assert a["expires_at"] == T0 + timedelta(days=1) and a["error"] is None
    assert (b["status"], b["reason"]) == ("failed", "daily token budget spent")
    assert b["error"] == "no language model configured"
    assert b["started_at"] == T0 + timedelta(minutes=5) and b["finished_at"] == T0 + timedelta(minutes=6)


async def test_late_and_repeated_events_never_regress_a_run(redis, pool, admin):
    started, awaiting, completed = lifecycle("t1", "run_a")
    deferred_late = run_event(AgentRunDeferred, "t1", "run_c", 1, reason="busy")
    started_c = run_event(AgentRunStarted, "t1", "run_c", 2, trigger_id="evt_c")
    publisher = Publisher(redis)
    async with running(redis, [projector_group(pool, 8)]):
        await publisher.publish([completed, started_c])  # the outcome first ...
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM event_log"), 2)
        await publisher.publish([awaiting, started, deferred_late])  # ... then what came before it, in later batches
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM event_log"), 5)
        before = await _runs(admin)
        await publisher.publish([started, awaiting, completed, deferred_late])  # redelivered: new entries, same events
        await wait_for(lambda: _all_acked(redis))
    after = await _runs(admin)
    a = after["run_a"]
    assert a["status"] == "completed" and a["output"] == {"summary": "done"}  # not the proposal awaiting approval
    assert a["trigger_id"] == "evt_1" and a["inputs"] == {"note": "rush"}  # the late start filled in
    assert a["actions"][0]["reason"] == "paid" and a["started_at"] == T0 + timedelta(minutes=1)
    assert after["run_c"]["status"] == "started"  # deferred at minute 1, started at minute 2: started
    assert after == before  # redelivery changed nothing


async def _all_acked(redis) -> bool:
    for stream in all_event_streams(8):
        if await redis.exists(stream) and any(g["pending"] or g["lag"] for g in await redis.xinfo_groups(stream)):
            return False
    return True


async def test_rebuild_restores_the_runs(redis, pool, admin, migrated):
    events = [e for i in range(5) for e in lifecycle(f"t{i % 2}", f"run_{i}")]
    events.reverse()  # every run's events in the worst order
    await Publisher(redis).publish(events)
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: _count(admin, "SELECT count(*) FROM event_log"), 15)
    incremental = await _runs(admin)
    await admin.execute("UPDATE agent_runs SET status = 'started', status_rank = 1")
    result = await rebuild_records(migrated.admin_url, page=4)
    assert result.agent_runs == 5 and await _runs(admin) == incremental
    assert {r["status"] for r in incremental.values()} == {"completed"}

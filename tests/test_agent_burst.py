"""Issue 11's budgets under a burst: 1,000 matching events for one tenant (one agent enabled, 25 orders updated 40
times each) while another tenant has the agent enabled too. Everything in the product's own path: the agents group
queues the requests, its run starter hands them to Temporal, the run workflow admits against the tenant's limits,
the real crew answers through tests/llm_server.py. Tenant A's runs are admitted only up to its concurrency (one at a
time) and its daily token budget (spent by the first run), every other run of A is deferred with the reason, and
tenant B's run completes all the same."""

from __future__ import annotations

import uuid

import msgspec
from agent_helpers import insert_record, llm_config, outbox, starting
from factories import order, running, wait_for
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agents.temporal.activities import AgentDeps
from agents.temporal.shared import workflow_of
from agents.temporal.worker import build_worker
from consumers.agents import agents_group
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant
from producers.publisher import Publisher

AGENT = "order-fulfilment"
ANSWER = {"can_ship": True, "summary": "in stock", "blockers": []}
ORDERS, UPDATES = 25, 40  # 1,000 events for tenant A


async def _tenant(admin, **limits) -> str:
    tenant = "t" + uuid.uuid4().hex[:10]  # workflow ids name the tenant: a fresh one per test
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
    await admin.execute(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, $2, true)", tenant, AGENT
    )
    if limits:
        await admin.execute(
            "INSERT INTO agent_limits (tenant_id, max_concurrent_runs, daily_token_budget) VALUES ($1, $2, $3)",
            tenant,
            limits["concurrent"],
            limits["tokens"],
        )
    return tenant


def _processing(tenant: str, number: str, version: int):
    event = order(tenant, number, version=version)
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, status="processing"))


async def _run_events(redis, tenant: str) -> list:
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [e for e in events if e.type.startswith("agent.run.") and e.tenant_id == tenant]


def _subject(run_id: str) -> str:
    return workflow_of(run_id)[1].rsplit(":", 1)[1]  # agent-run:{tenant}:{agent}:order:{number}


async def test_a_burst_of_1000_events_is_held_to_the_tenants_limits_while_another_tenants_run_completes(
    redis, pool, admin, temporal_server, llm
):
    llm.rule("order", json=ANSWER, usage=(50, 10))
    busy = await _tenant(admin, concurrent=1, tokens=1)  # one run at a time; the first run spends the day's budget
    calm = await _tenant(admin)
    await insert_record(admin, calm, "order", "9", "processing", {"number": "9"})
    burst = [_processing(busy, str(n), v) for v in range(1, UPDATES + 1) for n in range(ORDERS)]
    client = await Client.connect(temporal_server.url)
    config = llm_config(llm, agent_coalesce_s=2.0, agent_defer_retry_s=2.0)
    try:
        async with (
            build_worker(client, AgentDeps(pool, Publisher(redis), config, None)),
            starting(pool, client) as starter,
            running(redis, [agents_group(pool, DEFAULT_PARTITIONS, queued=starter.queued)]),
        ):
            publisher = Publisher(redis)
            for start in range(0, len(burst), 250):
                await publisher.publish(burst[start : start + 250])
            await publisher.publish([_processing(calm, "9", 1)])
            calm_events = await wait_for(lambda: _ended(redis, calm), timeout_s=120)
            # A's one run ended, and every other order's run was deferred for the budget the first one spent
            busy_events = await wait_for(lambda: _all_settled(redis, busy), timeout_s=180)
            await wait_for(lambda: outbox(admin), [])  # every request was handed over
    finally:  # A's deferred runs would wait for a slot forever: never leave them to another test's worker
        await _terminate(client, busy)
    assert [e.type.split(".")[2] for e in calm_events] == ["started", "completed"]
    started = [e for e in busy_events if e.type == "agent.run.started.v1"]
    assert len(started) == 1  # admitted: one run, then the budget is spent
    deferred = [e for e in busy_events if e.type == "agent.run.deferred.v1"]
    assert {_subject(e.run_id) for e in deferred} | {started[0].subject_external_id} == {str(n) for n in range(ORDERS)}
    reasons = {e.reason for e in deferred}
    assert all("the tenant's limit is 1" in r or "daily token budget" in r for r in reasons), reasons
    assert sum(e.triggers for e in started) <= UPDATES  # the started run folded its order's updates, never more
    admitted = await admin.fetchval("SELECT count(*) FROM agent_run_usage WHERE tenant_id = $1", busy)
    assert admitted == 1
    inbox = await admin.fetchval(
        "SELECT count(*) FROM group_inbox WHERE tenant_id = $1 AND group_name = 'agents'", busy
    )
    assert inbox == ORDERS * UPDATES  # every trigger recorded once


async def _terminate(client: Client, tenant: str) -> None:
    for n in range(ORDERS):
        try:
            await client.get_workflow_handle(f"agent-run:{tenant}:{AGENT}:order:{n}").terminate("test over")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # never started, or ended
                raise


async def _ended(redis, tenant: str) -> list | None:
    found = await _run_events(redis, tenant)
    return found if any(e.type in ("agent.run.completed.v1", "agent.run.failed.v1") for e in found) else None


async def _all_settled(redis, tenant: str) -> list | None:
    """A's run events once its one run ended and every other order's run was deferred for the budget."""
    found = await _run_events(redis, tenant)
    if not any(e.type == "agent.run.completed.v1" for e in found):
        return None
    over_budget = {_subject(e.run_id) for e in found if e.type == "agent.run.deferred.v1" and "budget" in e.reason}
    ran = {e.subject_external_id for e in found if e.type == "agent.run.started.v1"}
    return found if len(over_budget - ran) == ORDERS - 1 else None

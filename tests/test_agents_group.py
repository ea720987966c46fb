"""The agents group and its run starter on real Redis, Postgres and Temporal: an event wakes the agents its tenant
enabled whose trigger holds, each such event queues one run request (the group's outbox, `agent_run_requests`; the
triggers of one subject in a batch folded into one row), the starter hands it to the run workflow (seen through
Temporal itself), and a redelivery asks for nothing more. While Temporal does not answer, the request waits in the
outbox and the group goes on."""

from __future__ import annotations

import logging
import uuid

import msgspec
import pytest
from agent_helpers import outbox, starting
from factories import order, running, wait_for
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agents.catalog import catalog
from agents.runs import RunRequest, run_workflow_id
from agents.triggers import unversioned
from bizosaas.servers import free_port
from connectors.temporal.client import LazyTemporal
from consumers.agents import TRIGGERED, agents_group, wanted_types
from db.pool import tenant_transaction
from events.ranges import RangeFilter
from events.streams import all_event_streams, dead_stream, replay_stream
from events.types import Lead, LeadUpserted, Subject
from producers.publisher import Publisher
from producers.replay import replay

PARTITIONS = 8


@pytest.fixture
async def temporal_client(temporal_server):
    return await Client.connect(temporal_server.url)


def _tenant() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"  # workflow ids stay unique on the session's Temporal server


async def _enable(pool, tenant: str, **agents: bool) -> None:
    async with tenant_transaction(pool, tenant) as conn:
        for agent, enabled in agents.items():
            await conn.execute(
                "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, $2, $3)",
                tenant,
                agent.replace("_", "-"),
                enabled,
            )


async def _settled(redis, group: str = "agents") -> bool:
    """Every entry of the event streams and the group's replay stream delivered to the group and acknowledged."""
    for stream in [*all_event_streams(PARTITIONS), replay_stream(group)]:
        if not await redis.exists(stream):
            continue
        info = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}.get(group)
        if info is None or info["pending"] or info["lag"]:  # not created yet, or entries still to handle
            return False
    return True


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _order(tenant: str, number: str, status: str, deleted: bool = False):
    """An order event (tests/factories.py) in the given status."""
    event = order(tenant, number, deleted=deleted)
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, status=status))


def _request(event, agent: str) -> RunRequest:
    return RunRequest(
        tenant_id=event.tenant_id,
        agent=agent,
        trigger_id=event.id,
        subject_kind=event.subject.kind,
        subject_external_id=event.subject.external_id,
        source=event.source,
    )


def _triggered(agent: str) -> float:
    return TRIGGERED.labels(agent)._value.get()


def test_the_group_reads_only_the_types_some_trigger_names():
    types = wanted_types()
    assert "commerce.order.upserted.v2" in types and "crm.lead.upserted.v1" in types
    named = {t.event for spec in catalog().values() for t in spec.triggers}
    assert {unversioned(t) for t in types} == named  # exactly the types some trigger names, at their current version
    assert "commerce.order.deleted.v2" not in types and "agent.run.started.v1" not in types


async def test_events_that_wake_no_enabled_agent_start_nothing(redis, pool, admin, temporal_client, caplog):
    caplog.set_level(logging.WARNING, logger="bizosaas.agents")
    disabled, no_row, not_matching = _tenant(), _tenant(), _tenant()
    await _enable(pool, disabled, order_fulfilment=False, lead_scoring=False)
    await _enable(pool, not_matching, order_fulfilment=True, retired_agent=True)
    events = [
        _order(disabled, "1", "processing"),
        _order(no_row, "2", "processing"),
        _order(not_matching, "3", "pending"),
        _order(not_matching, "4", "completed"),
        _order(not_matching, "5", "processing", deleted=True),
    ]
    lead = LeadUpserted(
        id="01JLEADEVENT00000000000001",
        tenant_id=disabled,
        source="con_crm",
        provider="fluentcrm",
        subject=Subject(kind="lead", external_id="7"),
        occurred_at=events[0].occurred_at,
        recorded_at=events[0].recorded_at,
        data=Lead(name="Ada"),
    )
    before = _triggered("order-fulfilment")
    await Publisher(redis, PARTITIONS).publish([*events, lead])
    async with starting(pool, temporal_client), running(redis, [agents_group(pool, PARTITIONS)]):
        await wait_for(lambda: _settled(redis))
    assert await redis.xlen(dead_stream("agents")) == 0  # every batch committed
    assert await admin.fetchval("SELECT count(*) FROM group_inbox WHERE group_name = 'agents'") == 0
    assert await outbox(admin) == []
    assert _triggered("order-fulfilment") == before
    for event in events:
        assert not await _exists(temporal_client, run_workflow_id(_request(event, "order-fulfilment")))
    assert not await _exists(temporal_client, run_workflow_id(_request(lead, "lead-scoring")))
    assert any("'retired-agent', which the catalog does not hold" in r.getMessage() for r in caplog.records)


async def test_a_matching_order_asks_for_one_run_and_a_redelivery_for_none(redis, pool, admin, temporal_client):
    tenant, other = _tenant(), _tenant()
    await _enable(pool, tenant, order_fulfilment=True)
    await _enable(pool, other, order_fulfilment=False)
    wakes = _order(tenant, "1001", "processing")
    sleeps = _order(other, "1001", "processing")
    before = _triggered("order-fulfilment")
    await Publisher(redis, PARTITIONS).publish([wakes, sleeps, _order(tenant, "1002", "pending")])
    workflow_id = run_workflow_id(_request(wakes, "order-fulfilment"))
    async with starting(pool, temporal_client) as starter:
        async with running(redis, [agents_group(pool, PARTITIONS, queued=starter.queued)]):
            await wait_for(lambda: _settled(redis))
            await wait_for(lambda: _exists(temporal_client, workflow_id))
            await wait_for(lambda: outbox(admin), [])  # handed over: the row is gone
            handle = temporal_client.get_workflow_handle(workflow_id)
            first = await handle.describe()
            history = [e async for e in handle.fetch_history_events()]
            assert await replay(redis, "agents", RangeFilter(tenant=tenant), PARTITIONS) == 2  # both entries again
            await wait_for(lambda: _settled(redis))
        assert await outbox(admin) == []  # the redelivery queued nothing
    assert (await handle.describe()).run_id == first.run_id  # no second run ...
    assert len([e async for e in handle.fetch_history_events()]) == len(history)  # ... and no second signal
    assert not await _exists(temporal_client, run_workflow_id(_request(sleeps, "order-fulfilment")))
    inbox = await admin.fetch("SELECT tenant_id, event_id FROM group_inbox WHERE group_name = 'agents'")
    assert [tuple(r) for r in inbox] == [(tenant, wakes.id)]  # only the matching event is recorded
    assert _triggered("order-fulfilment") == before + 1


async def test_updates_of_one_subject_in_a_batch_fold_into_one_request_that_counts_each_trigger(
    redis, pool, admin, temporal_client
):
    tenant = _tenant()
    await _enable(pool, tenant, order_fulfilment=True)
    updates = [_order(tenant, "1001", "processing") for _ in range(3)]
    other = _order(tenant, "1002", "processing")
    await Publisher(redis, 1).publish([*updates, other])  # one partition: one batch
    async with running(redis, [agents_group(pool, 1)]):
        await wait_for(lambda: _settled_on(redis, 1))
    rows = {r["subject_external_id"]: r for r in await outbox(admin)}
    assert rows["1001"]["trigger_ids"] == [u.id for u in updates] and rows["1001"]["triggers"] == 3
    assert rows["1002"]["trigger_ids"] == [other.id] and len(rows) == 2
    workflow_id = run_workflow_id(_request(updates[0], "order-fulfilment"))
    async with starting(pool, temporal_client):
        await wait_for(lambda: outbox(admin), [])
    handle = temporal_client.get_workflow_handle(workflow_id)
    signals = [
        e async for e in handle.fetch_history_events() if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert len(signals) == 1  # the three triggers went in one signal-with-start
    carried = signals[0].workflow_execution_signaled_event_attributes.input.payloads[0].data
    assert all(u.id.encode() in carried for u in updates)


async def test_while_temporal_does_not_answer_the_request_waits_in_the_outbox(redis, pool, admin, temporal_client):
    class Nowhere(LazyTemporal):
        tries = 0

        async def get(self):
            Nowhere.tries += 1
            return await super().get()

    tenant = _tenant()
    await _enable(pool, tenant, order_fulfilment=True)
    wakes = _order(tenant, "1001", "processing")
    await Publisher(redis, PARTITIONS).publish([wakes])
    nowhere = Nowhere(f"127.0.0.1:{free_port()}", timeout_s=2)
    async with (
        starting(pool, nowhere) as starter,
        running(redis, [agents_group(pool, PARTITIONS, queued=starter.queued)]),
    ):
        await wait_for(lambda: _settled(redis))  # the group does not wait for Temporal: acknowledged ...
        await wait_for(lambda: _at_least(Nowhere, 3))  # ... while the starter backs off and asks again
        (row,) = await outbox(admin)  # the request waits, untouched
    assert await redis.xlen(dead_stream("agents")) == 0
    assert (row["trigger_ids"], row["attempts"]) == ([wakes.id], 0)
    workflow_id = run_workflow_id(_request(wakes, "order-fulfilment"))
    assert not await _exists(temporal_client, workflow_id)
    async with starting(pool, temporal_client):  # Temporal answers again: handed over, then deleted
        await wait_for(lambda: outbox(admin), [])
    assert await _exists(temporal_client, workflow_id)


async def _settled_on(redis, partitions: int) -> bool:
    for stream in all_event_streams(partitions):
        info = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}.get("agents")
        if info is None or info["pending"] or info["lag"]:
            return False
    return True


async def _at_least(counter, n: int) -> bool:
    return counter.tries >= n


async def test_a_request_temporal_refuses_backs_off_with_its_error_and_is_handed_over_later(
    redis, pool, admin, temporal_server, temporal_client
):
    tenant = _tenant()
    await _enable(pool, tenant, order_fulfilment=True)
    wakes = _order(tenant, "1001", "processing")
    await Publisher(redis, PARTITIONS).publish([wakes])
    refusing = await Client.connect(temporal_server.url, namespace=f"missing-{uuid.uuid4().hex[:8]}")
    async with (
        starting(pool, refusing) as starter,
        running(redis, [agents_group(pool, PARTITIONS, queued=starter.queued)]),
    ):
        row = await wait_for(lambda: _tried(admin))  # leased, refused, backed off: kept with the reason
    assert row["trigger_ids"] == [wakes.id] and row["attempts"] >= 1 and "namespace" in row["last_error"].lower()
    async with starting(pool, temporal_client):
        await wait_for(lambda: outbox(admin), [], timeout_s=90)  # due again after its back-off, then handed over
    assert await _exists(temporal_client, run_workflow_id(_request(wakes, "order-fulfilment")))


async def _tried(admin):
    rows = await outbox(admin)
    return rows[0] if rows and rows[0]["last_error"] else None

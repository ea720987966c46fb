"""`bizosaas worker agents` as real processes: a worker SIGKILLed after its batch committed the run requests but before
its starter handed them to Temporal (Temporal unreachable for it) loses nothing — the next worker hands them over,
each subject's run workflow exists once, with every trigger counted, and the outbox is empty."""

from __future__ import annotations

import signal
import uuid

import msgspec
from agent_helpers import outbox
from factories import order, start_worker, wait_for
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bizosaas.servers import free_port
from producers.publisher import Publisher

WORKER_ENV = {"BIZOSAAS_BLOCK_MS": "100", "BIZOSAAS_METRICS_PORT": "-1"}
AGENT = "order-fulfilment"


def _processing(tenant: str, number: str, version: int):
    event = order(tenant, number, version=version)
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, status="processing"))


async def _recorded(admin, n: int) -> bool:
    return await admin.fetchval("SELECT count(*) FROM group_inbox WHERE group_name = 'agents'") == n


async def _signalled(client: Client, workflow_id: str) -> list | None:
    """The trigger signals the run workflow holds (None while it does not exist)."""
    try:
        handle = client.get_workflow_handle(workflow_id)
        events = [e async for e in handle.fetch_history_events()]
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return [e for e in events if e.HasField("workflow_execution_signaled_event_attributes")]


async def test_a_worker_killed_before_handing_requests_over_loses_none(
    redis, admin, migrated, temporal_server, tmp_path
):
    tenant = "t" + uuid.uuid4().hex[:10]  # workflow ids name the tenant
    await admin.execute(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, $2, true)", tenant, AGENT
    )
    events = [_processing(tenant, str(n), v) for v in (1, 2, 3) for n in range(5)]
    await Publisher(redis).publish(events)
    unreachable = migrated.env(**WORKER_ENV, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    victim = start_worker(unreachable, tmp_path / "victim.log", "agents")
    try:
        await wait_for(lambda: _recorded(admin, len(events)), timeout_s=60)  # committed: inbox and outbox
        queued = await outbox(admin)
        assert queued and sum(r["triggers"] for r in queued) == len(events)
        victim.send_signal(signal.SIGKILL)  # no drain, nothing handed over
        victim.wait(30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert sum(r["triggers"] for r in await outbox(admin)) == len(events)  # still there
    rescuer = start_worker(
        migrated.env(**WORKER_ENV, TEMPORAL_ADDRESS=temporal_server.url), tmp_path / "r.log", "agents"
    )
    try:
        await wait_for(lambda: outbox(admin), [], timeout_s=90)
    finally:
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(30) == 0
    client = await Client.connect(temporal_server.url)
    for n in range(5):
        signals = await _signalled(client, f"agent-run:{tenant}:{AGENT}:order:{n}")
        assert signals, f"order {n}: no run workflow"
        carried = b"".join(
            p.data for s in signals for p in s.workflow_execution_signaled_event_attributes.input.payloads
        )
        assert all(e.id.encode() in carried for e in events if e.subject.external_id == str(n))
        await client.get_workflow_handle(f"agent-run:{tenant}:{AGENT}:order:{n}").terminate("test over")

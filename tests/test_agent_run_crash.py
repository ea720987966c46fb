"""A `bizosaas temporal-worker` SIGKILLed while its crew waits for the model: another worker runs the crew again
(heartbeat timeout, retry) and the run completes once — one started event, one completed, its tokens counted once."""

from __future__ import annotations

import signal
import subprocess
import uuid

from agent_helpers import insert_record
from conftest import bizosaas_command
from factories import wait_for

from agents.runs import RunRequest
from agents.temporal.client import request_run
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant

TIMEOUT_S = 180.0  # a heartbeat timeout (20 s), a retry and a slow model, on a machine three times slower
ANSWER = {"can_ship": True, "summary": "in stock", "blockers": []}


async def test_a_worker_killed_mid_crew_is_replaced_and_the_run_completes_once(
    llm, redis, admin, migrated, vault, temporal_server, tmp_path
):
    from temporalio.client import Client

    tenant = "t" + uuid.uuid4().hex[:10]
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
    await insert_record(admin, tenant, "order", "727", "processing", {"number": "727"})
    llm.rule("order 727", json=ANSWER, usage=(40, 8))
    llm.delay_s = 2.0  # the model is slow: the kill lands while the crew waits for it
    env = migrated.env(
        TEMPORAL_ADDRESS=temporal_server.url,
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.token,
        BIZOSAAS_METRICS_PORT="-1",
        OPENAI_BASE_URL=llm.url,
        BIZOSAAS_AGENT_MODEL=llm.model,
        BIZOSAAS_AGENT_COALESCE_S="0.5",
        BIZOSAAS_RAG_EMBEDDER="local",
    )
    first = _temporal_worker(env, tmp_path / "first.log")
    second = None
    try:
        client = await Client.connect(temporal_server.url)
        request = RunRequest(
            tenant_id=tenant, agent="order-fulfilment", trigger_id="evt_1", subject_kind="order",
            subject_external_id="727",
        )  # fmt: skip
        await request_run(client, request)
        await wait_for(lambda: _asked(llm), True, TIMEOUT_S)
        first.send_signal(signal.SIGKILL)  # no drain: mid-crew
        first.wait(30)
        second = _temporal_worker(env, tmp_path / "second.log")
        events = await wait_for(lambda: _ended(redis, tenant), timeout_s=TIMEOUT_S)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    assert [e.type for e in events] == ["agent.run.started.v1", "agent.run.completed.v1"]
    assert events[-1].output == ANSWER and events[-1].tokens_in == 40  # the second crew's answer, counted once
    assert len(llm.requests) >= 2  # the killed worker's request and the retry's
    tokens = await admin.fetchval("SELECT tokens FROM agent_run_usage WHERE tenant_id = $1", tenant)
    assert tokens == 48


def _temporal_worker(env, log_path) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        return subprocess.Popen([*bizosaas_command(), "temporal-worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def _asked(llm) -> bool:
    return len(llm.requests) >= 1


async def _ended(redis, tenant: str):
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    found = [e for e in events if e.type.startswith("agent.run.")]
    return found if any(e.type == "agent.run.completed.v1" for e in found) else None

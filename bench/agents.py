"""Agents benchmark: how fast the `agents` group evaluates trigger rules, against the projector on the same events.

    .venv/bin/python bench/agents.py [--quick] [--events N] [--seconds S]

Starts its own Redis, Postgres and Temporal dev server (bizosaas.servers, in a temp folder), migrates, enables every
catalog agent for each of the 50 tenants of bench/realistic_events.py (the worst case: every rule is evaluated), and
publishes N realistic events. No agents worker and no language model run: a matching event queues a run request
(the group's outbox, agent_run_requests), which the run starter (consumers/agent_starts.py) hands to Temporal
(request_run: signal-with-start of the run workflow), where it then waits. In one run, in this process
(consumers.runtime.Runtime, the production RuntimeConfig):
  1. the projector group drains the backlog: projector_events_per_s;
  2. the agents group drains the same backlog (its own consumer group; the rules and the outbox writes, no
     starter running): trigger_events_per_s, and the ratio (aim >= 1.0: agents must never be the backbone's
     bottleneck);
  3. the run starter (BIZOSAAS_AGENT_START_IN_FLIGHT's default) empties the outbox the group left:
     run_requests_per_s (rows handed to Temporal per second) and starter_events_per_s (backlog events per second
     whose runs reached Temporal: the end-to-end capacity when the starter is the slower stage);
  4. a steady publisher at half the slower stage's rate (group or starter, in events/s) for S seconds while the
     group and the starter run, as `bizosaas worker` runs them: for a sample of the events that match, event ->
     run started = the time Temporal recorded the event's trigger on its run workflow (the WorkflowExecutionSignaled
     event carrying its id; signal-with-start records the first one too) minus the event's recorded_at (stamped at
     publish; one machine, one clock): run_started_p99_ms.
Also: rules_only_events_per_s (the trigger rules alone over the same events, in this process).
Ends with one JSON line (also written to bench/results/agents-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
import msgspec  # noqa: E402
from probes import machine_busy_s  # noqa: E402
from realistic_events import Traffic  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from temporalio.client import Client  # noqa: E402

from agents.catalog import catalog  # noqa: E402
from agents.config import AgentsConfig  # noqa: E402
from agents.runs import RunRequest, run_workflow_id  # noqa: E402
from agents.triggers import matches  # noqa: E402
from bizosaas.servers import start_postgres, start_redis  # noqa: E402
from bizosaas.temporal_dev import start_temporal  # noqa: E402
from consumers.agent_starts import RunStarter  # noqa: E402
from consumers.agents import agents_group  # noqa: E402
from consumers.base import RuntimeConfig  # noqa: E402
from consumers.projector import projector_group  # noqa: E402
from consumers.runtime import Runtime  # noqa: E402
from db.migrate import migrate  # noqa: E402
from db.pool import create_pool  # noqa: E402
from events.streams import all_event_streams  # noqa: E402
from producers.publisher import Publisher  # noqa: E402

PARTITIONS = 8
BATCH = 500
SAMPLE = 300  # matched events whose run-started latency is read back from Temporal


def say(line: str) -> None:
    print(line, flush=True)


async def drained(redis: Redis, group: str) -> bool:
    for stream in all_event_streams(PARTITIONS):
        info = {i["name"].decode(): i for i in await redis.xinfo_groups(stream)}.get(group)
        if info is None or info["pending"] or info["lag"]:
            return False
    return True


async def drain(redis: Redis, group, timeout_s: float) -> float:
    """Run one group on the backlog until it has read and acknowledged everything; answers the seconds taken."""
    runtime = Runtime(redis, [group], RuntimeConfig())
    started = time.monotonic()
    task = asyncio.create_task(runtime.run())
    while not await drained(redis, group.name):
        if task.done() or time.monotonic() - started > timeout_s:
            raise RuntimeError(f"group {group.name} did not drain within {timeout_s:.0f} s")
        await asyncio.sleep(0.02)
    seconds = time.monotonic() - started
    runtime.stop()
    await task
    return seconds


def matched(event) -> list[RunRequest]:
    """The runs this event asks for, every agent being enabled (the same rule the group applies)."""
    data = msgspec.to_builtins(getattr(event, "data", None) or {})
    return [
        RunRequest(
            tenant_id=event.tenant_id,
            agent=spec.id,
            trigger_id=event.id,
            subject_kind=event.subject.kind,
            subject_external_id=event.subject.external_id,
            source=event.source,
        )
        for spec in catalog().values()
        if matches(spec, event.type, data)
    ]


async def signalled_at_ms(client: Client, request: RunRequest) -> float | None:
    """When Temporal recorded this trigger on its run workflow (ms since the epoch), or None if it did not."""
    handle = client.get_workflow_handle(run_workflow_id(request))
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            if any(request.trigger_id.encode() in p.data for p in payloads):
                return event.event_time.ToMilliseconds()
    return None


async def outbox_rows(admin) -> int:
    return await admin.fetchval("SELECT count(*) FROM agent_run_requests")


async def empty_outbox(pool, admin, client: Client, timeout_s: float) -> float:
    """Run the starter until the outbox is empty; answers the seconds taken."""
    starter, stopping = RunStarter(pool, client, AgentsConfig().agent_start_in_flight), asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(starter.run(stopping))
    while await outbox_rows(admin):
        if task.done() or time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the run starter did not empty the outbox within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
    seconds = time.monotonic() - started
    stopping.set()
    await task
    return seconds


async def half_load(redis: Redis, pool, client: Client, traffic: Traffic, rate: float, seconds: float) -> list[float]:
    """Publish at `rate` events/s for `seconds` while the agents group and its starter run; event -> run started
    latencies (ms)."""
    starter, stopping = RunStarter(pool, client, AgentsConfig().agent_start_in_flight), asyncio.Event()
    starting = asyncio.create_task(starter.run(stopping))
    group = agents_group(pool, PARTITIONS, queued=starter.queued)
    runtime = Runtime(redis, [group], RuntimeConfig())
    task = asyncio.create_task(runtime.run())
    publisher, sent = Publisher(redis, PARTITIONS), []
    tick, per_tick = 0.05, max(1, round(rate * 0.05))
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        events = traffic.events(per_tick)
        await publisher.publish(events)
        sent += [(e.recorded_at.timestamp() * 1000, r) for e in events for r in matched(e)[:1]]
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - started - elapsed)))
    deadline = time.monotonic() + 120
    while not await drained(redis, group.name) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    runtime.stop()
    await task
    while await starter_busy(pool) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stopping.set()
    await starting
    step = max(1, len(sent) // SAMPLE)
    latencies = []
    for recorded_ms, request in sent[::step]:
        at = await signalled_at_ms(client, request)
        if at is not None:
            latencies.append(at - recorded_ms)
    return latencies


async def starter_busy(pool) -> bool:
    """Rows still queued (read through the SECURITY DEFINER function: the service role sees no tenant's rows)."""
    async with pool.acquire() as conn:
        return bool(await conn.fetch("SELECT * FROM agent_run_tenants_due(1)"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> dict:
    n = args.events or (10_000 if args.quick else 100_000)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    base = Path(tempfile.mkdtemp(prefix="bizosaas-bench-agents-"))
    servers = []
    try:
        servers.append(start_redis(base / "redis"))
        servers.append(start_postgres(base / "pg"))
        servers.append(start_temporal(base / "temporal", ui=False, timeout_s=120.0))
        redis_server, pg, temporal = servers
        admin_url = pg.url.rsplit("/", 1)[0] + "/bizosaas_bench"
        service_url = f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/bizosaas_bench"
        await migrate(admin_url, service_url)
        redis = Redis.from_url(redis_server.url)
        pool = await create_pool(service_url, max_size=8)
        client = await Client.connect(temporal.url)
        admin = await asyncpg.connect(admin_url)
        try:
            traffic = Traffic(tenants=50)
            agents = list(catalog())
            await admin.executemany(
                "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, $2, true)",
                [(t.id, a) for t in traffic.tenants for a in agents],
            )
            events = traffic.events(n)
            started = time.perf_counter()
            runs = sum(bool(matched(e)) for e in events)  # the rules alone: no Redis, Postgres or Temporal
            rules_s = time.perf_counter() - started
            say(f"{n:,} events, {len(agents)} agents enabled for each of 50 tenants; {runs:,} events match a trigger")
            publisher = Publisher(redis, PARTITIONS)
            for i in range(0, n, BATCH):
                await publisher.publish(events[i : i + BATCH])
            busy_before = machine_busy_s()

            projector_s = await drain(redis, projector_group(pool, PARTITIONS), timeout_s=max(300, n / 100))
            say(f"1. projector: {n / projector_s:,.0f} events/s ({projector_s:.1f} s)")
            trigger_s = await drain(redis, agents_group(pool, PARTITIONS), timeout_s=max(300, n / 100))
            say(f"2. agents: {n / trigger_s:,.0f} events/s ({trigger_s:.1f} s)")
            rows = await outbox_rows(admin)
            starter_s = await empty_outbox(pool, admin, client, timeout_s=max(300, n / 10))
            say(f"3. run starter: {rows:,} requests in {starter_s:.1f} s ({rows / starter_s:,.0f}/s)")
            rate = min(n / trigger_s, n / starter_s) / 2
            latencies = await half_load(redis, pool, client, traffic, rate, seconds)
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            say(f"4. at {rate:,.0f} events/s: event -> run started p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            busy_s = machine_busy_s() - busy_before
        finally:
            await admin.close()
            await pool.close()
            await redis.aclose()
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "events": n,
        "quick": args.quick,
        "cores": os.cpu_count(),
        "agents_enabled_per_tenant": len(agents),
        "matching_events": runs,
        "trigger_events_per_s": round(n / trigger_s),
        "projector_events_per_s": round(n / projector_s),
        "ratio_to_projector": round(projector_s / trigger_s, 3),
        "rules_only_events_per_s": round(n / rules_s),
        "run_requests": rows,
        "run_requests_per_s": round(rows / starter_s),
        "starter_events_per_s": round(n / starter_s),
        "half_load_events_per_s": round(rate),
        "run_started_p50_ms": round(p50, 1),
        "run_started_p99_ms": round(p99, 1),
        "latency_samples": len(latencies),
        "machine_busy_s": round(busy_s, 1),
        "note": "both groups in this process (consumers.runtime.Runtime, default RuntimeConfig), one after the other "
        "on the same backlog; matching events are queued in agent_run_requests (the group's rate), which the run "
        "starter hands to Temporal (signal-with-start; its own rate); half load is half the slower of the two; "
        "no agents worker runs",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 events and 10 s at half load (about a minute)")
    parser.add_argument("--events", type=int, help="events in the backlog")
    parser.add_argument("--seconds", type=float, help="seconds at half load")
    result = asyncio.run(run(parser.parse_args()))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"agents-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

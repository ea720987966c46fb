"""Pipeline benchmark: publish realistic events, project them into Postgres, and compare with the raw limits.

    .venv/bin/python bench/pipeline.py [--quick] [--events N] [--processes 1,2] [--loads 0.1,0.5] [--profile DIR]

Starts its own Redis and Postgres (bizosaas.servers, in a temp folder; Postgres with track_commit_timestamp=on),
migrates with a service role, publishes N realistic events across 50 tenants (bench/realistic_events.py), and
measures in the same run:
  1. raw limits: pipelined XADD (Publisher.publish in batches of 500; a bare redis-py pipeline; the idempotent
     publish path) and the raw loop (bench/baselines.py: XREADGROUP + decode + COPY upsert, no framework), also
     with the archive write the projector makes;
  2. the backbone: worker processes running `bizosaas worker projector` (cmd_worker.run with the production
     runtime config; bench/workers.py) draining the whole backlog, published before they start: consumer
     throughput from the first batch's transaction start to the last commit (Postgres commit timestamps);
  3. latency: a steady publisher at half the one-process throughput; publish -> commit per event, from the event's
     recorded_at (stamped at publish) and its event_log row's commit timestamp (one machine, one clock);
  4. a peer: a plain FastStream 0.7 batch subscriber doing the same COPY upsert (and again with the archive).
Every phase also reports CPU seconds per process family (bench/probes.py): the machine may be shared.
Ends with one JSON line (also written to bench/results/pipeline-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
import msgspec  # noqa: E402
from baselines import STAGING, create_tables, faststream_peer, raw_loop  # noqa: E402
from probes import CpuMeter, Phases, profile_summary, start_spy, stop_spy  # noqa: E402
from realistic_events import Traffic  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from workers import Workers, park_group, release_backlog, wait_drained  # noqa: E402

from bizosaas import heap  # noqa: E402
from bizosaas.servers import start_postgres, start_redis  # noqa: E402
from db.migrate import migrate  # noqa: E402
from events import codec  # noqa: E402
from events.streams import all_event_streams, stream_for_tenant  # noqa: E402
from producers.publisher import Publisher  # noqa: E402

PARTITIONS = 8
BATCH = 500
BUSINESS = (
    "tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, "
    "recorded_at, deleted, data, event_id, stream_ms, stream_seq"
)


def say(line: str) -> None:
    print(line, flush=True)


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- servers --------------------------------------------------------------------------------------------------


def start_servers(base: Path):
    redis_server = start_redis(base / "redis")
    pg = start_postgres(base / "pg")
    # commit timestamps give "committed at" per row without triggers; the setting needs a restart
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio, asyncpg, sys\n"
            "async def m():\n c = await asyncpg.connect(sys.argv[1])\n"
            " await c.execute('ALTER SYSTEM SET track_commit_timestamp = on'); await c.close()\n"
            "asyncio.run(m())",
            pg.url,
        ],
        check=True,
    )
    pg.stop()
    pg = start_postgres(base / "pg", port=pg.port)
    return redis_server, pg


# --- 1. publishing --------------------------------------------------------------------------------------------


async def measure_publish(redis_url: str, events: list) -> dict:
    scratch = Redis.from_url(redis_url, db=1)  # the comparison runs go to another database, then are dropped
    started = time.perf_counter()
    publisher = Publisher(scratch, PARTITIONS)
    for chunk in chunks(events, BATCH):
        await publisher.publish(chunk, [e.raw_ref for e in chunk])
    idempotent = len(events) / (time.perf_counter() - started)
    await scratch.flushdb()
    started = time.perf_counter()
    for chunk in chunks(events, BATCH):
        async with scratch.pipeline(transaction=False) as pipe:
            for event in chunk:
                pipe.xadd(stream_for_tenant(event.tenant_id, PARTITIONS), {codec.EVENT_FIELD: codec.encode(event)})
            await pipe.execute()
    bare = len(events) / (time.perf_counter() - started)
    await scratch.flushdb()
    await scratch.aclose()
    redis = Redis.from_url(redis_url)
    started = time.perf_counter()
    publisher = Publisher(redis, PARTITIONS)
    for chunk in chunks(events, BATCH):
        await publisher.publish(chunk)
    plain = len(events) / (time.perf_counter() - started)
    await redis.aclose()
    say(
        f"publish: Publisher.publish {plain:,.0f} ev/s | bare redis-py pipeline {bare:,.0f} ev/s | "
        f"idempotent (keyed, Lua) {idempotent:,.0f} ev/s  [batches of {BATCH}]"
    )
    return {
        "xadd_publisher_events_per_s": round(plain),
        "xadd_bare_pipeline_events_per_s": round(bare),
        "xadd_idempotent_events_per_s": round(idempotent),
    }


async def measure_baselines(
    redis: Redis, redis_url: str, admin: asyncpg.Connection, admin_url: str, phases: Phases, n: int, entities: int
) -> dict:
    """The raw loop and the FastStream peer, each without and with the archive write."""
    result = {}
    pool = await asyncpg.create_pool(
        admin_url, min_size=PARTITIONS, max_size=PARTITIONS + 2, init=lambda conn: conn.execute(STAGING)
    )
    streams = all_event_streams(PARTITIONS)
    for name, archive in (("bench_raw", False), ("bench_rawlog", True)):
        await create_tables(admin, name)
        await admin.execute("CHECKPOINT")
        phases.begin(name)
        clock = await raw_loop(redis, pool, streams, name, archive=archive)
        say(
            f"raw loop{' + archive' if archive else ''}: {clock.events_per_s:,.0f} ev/s "
            f"(XREADGROUP COUNT {BATCH} + decode + COPY upsert)"
        )
        phases.end(name, n)
        result["raw_with_archive_events_per_s" if archive else "raw_limit_events_per_s"] = round(clock.events_per_s)
    for name, archive in (("bench_peer", False), ("bench_peerlog", True)):
        await create_tables(admin, name)
        await admin.execute("CHECKPOINT")
        phases.begin(name)
        clock = await faststream_peer(redis_url, pool, streams, name, n, max(120, n / 500), archive)
        say(f"FastStream batch subscriber{' + archive' if archive else ''}: {clock.events_per_s:,.0f} ev/s")
        phases.end(name, n)
        result[f"peer_faststream{'_with_archive' if archive else ''}_events_per_s"] = round(clock.events_per_s)
    await pool.close()
    for name in ("bench_raw", "bench_rawlog", "bench_peer", "bench_peerlog"):
        got = await admin.fetchval(f"SELECT count(*) FROM {name}_records")
        if got != entities:
            raise RuntimeError(f"{name}_records has {got} rows, expected {entities}")
    return result


# --- 2. the projector, as `bizosaas worker projector` processes -----------------------------------------------


PROFILES: dict = {}


def report_profile(path: Path, name: str) -> dict:
    summary = PROFILES[name] = profile_summary(path)
    say(f"  py-spy {name} ({summary['samples']} samples; % of samples with the function on the stack):")
    for row, pct in summary.items():
        if row != "samples":
            say(f"    {pct:5.1f}%  {row}")
    return summary


async def measure_projector(
    redis: Redis,
    admin: asyncpg.Connection,
    workers: Workers,
    phases: Phases,
    processes: int,
    n: int,
    entities: int,
    profile: Path | None,
) -> float:
    await park_group(redis, admin, PARTITIONS)
    await workers.start(processes)
    spy = start_spy(workers.pids[0], profile / "projector.txt") if profile and processes == 1 else None
    name = f"projector_{processes}p"
    batches_before = workers.batches()
    phases.begin(name, workers.pids)
    await release_backlog(redis, PARTITIONS)
    await wait_drained(redis, PARTITIONS, timeout_s=max(120, n / 500), workers=workers)
    used = phases.end(name, n, workers.pids)
    count, seconds, _ = (a - b for a, b in zip(workers.batches(), batches_before))
    stop_spy(spy)
    if spy:
        report_profile(profile / "projector.txt", "projector_1p")
    row = await admin.fetchrow("""SELECT count(*) AS n, extract(epoch FROM min(archived_at)) AS first_start,
                                         extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) AS last_commit
                                  FROM event_log""")
    records = await admin.fetchval("SELECT count(*) FROM records")
    if row["n"] != n or records != entities:
        raise RuntimeError(f"projector wrote {row['n']} events / {records} records; expected {n} / {entities}")
    took = float(row["last_commit"] - row["first_start"])
    busy = used["workers"] / took / processes  # 1.0: the worker process never waited
    say(
        f"projector ({processes} worker process{'es' if processes > 1 else ''}): {n / took:,.0f} ev/s "
        f"({n:,} events, {records:,} records, {took:.2f} s; {count:.0f} batches of {n / max(count, 1):.0f} on "
        f"average, {1000 * seconds / max(count, 1):.1f} ms each; each worker process on CPU {busy:.0%} of the time)"
    )
    phases.result.setdefault("worker_busy_fraction", {})[name] = round(busy, 2)
    return n / took


# --- 3. latency at half load ----------------------------------------------------------------------------------


async def measure_latency(
    redis: Redis, admin: asyncpg.Connection, workers: Workers, phases: Phases, events: list, rate: float, name: str
) -> dict:
    publisher, ids, sent = Publisher(redis, PARTITIONS), [], 0
    # the load generator's own collections (it holds every event of the run) would stall it between stamping an
    # event and sending it, which reads as the platform's latency: settle its heap as the platform's processes do
    heap.settle()
    batches_before = workers.batches()
    phases.begin(name, workers.pids)
    started = time.perf_counter()
    while sent < len(events):
        due = min(len(events), int((time.perf_counter() - started) * rate) + 1)
        if due > sent:
            now = datetime.now(UTC)  # the publish time travels in the event itself
            chunk = [msgspec.structs.replace(e, recorded_at=now) for e in events[sent:due]]
            await publisher.publish(chunk)
            ids += [e.id for e in chunk]
            sent = due
        await asyncio.sleep(0.005)
    actual = sent / (time.perf_counter() - started)
    await wait_drained(redis, PARTITIONS, timeout_s=60, workers=workers)
    phases.end(name, sent, workers.pids)
    count, seconds, _ = (a - b for a, b in zip(workers.batches(), batches_before))
    ms = sorted(
        r[0]
        for r in await admin.fetch(
            "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin) - recorded_at) * 1000 FROM event_log "
            "WHERE id = ANY($1::text[])",
            ids,
        )
    )
    if len(ms) != len(ids):
        raise RuntimeError(f"latency run: {len(ms)} of {len(ids)} events archived")
    pick = lambda q: float(ms[min(len(ms) - 1, int(q * len(ms)))])  # noqa: E731
    result = {
        "p50_ms": round(pick(0.50), 1),
        "p99_ms": round(pick(0.99), 1),
        "max_ms": round(float(ms[-1]), 1),
        "latency_rate_events_per_s": round(actual),
        "latency_events": len(ms),
        "latency_mean_batch": round(sent / max(count, 1), 1),
    }
    say(
        f"latency at {actual:,.0f} ev/s steady ({len(ms):,} events, publish -> commit): p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms ({count:.0f} batches of {sent / max(count, 1):.1f} "
        f"on average, {1000 * seconds / max(count, 1):.1f} ms each)"
    )
    return result


# --- the run --------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    base = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    redis_server, pg = start_servers(base)
    workers = None
    try:
        admin_url = pg.url.rsplit("/", 1)[0] + "/bizosaas_bench"
        service_url = f"postgresql://bizosaas_app:bench-secret@127.0.0.1:{pg.port}/bizosaas_bench"
        await migrate(admin_url, service_url)
        redis, admin = Redis.from_url(redis_server.url), await asyncpg.connect(admin_url)
        n, traffic = args.events, Traffic(tenants=args.tenants)
        events = traffic.events(n)
        entities = len(traffic.entities)
        say(
            f"generated {n:,} events across {args.tenants} tenants ({entities:,} entities, "
            f"{sum(len(codec.encode(e)) for e in events[:2000]) / 2000:,.0f} bytes/event on average)"
        )
        result: dict = {
            "events": n,
            "tenants": args.tenants,
            "cores": os.cpu_count(),
            "quick": args.quick,
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        }
        phases = Phases(CpuMeter(pg.proc.pid, redis_server.proc.pid), result)
        phases.begin("publish")
        result |= await measure_publish(redis_server.url, events)
        phases.end("publish", 3 * n)
        del events

        if not args.projector_only:
            result |= await measure_baselines(redis, redis_server.url, admin, admin_url, phases, n, entities)
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": service_url,
            "DATABASE_ADMIN_URL": admin_url,
            "BIZOSAAS_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
        workers = Workers(env, base, ROOT, PARTITIONS)
        rates = {}
        for processes in sorted(args.processes, reverse=True):  # the last one keeps running for the latency run
            workers.stop()
            rates[processes] = await measure_projector(
                redis, admin, workers, phases, processes, n, entities, args.profile
            )
        main = min(args.processes)
        result["events_per_s"] = round(rates[main])
        result["worker_processes"] = main
        result |= {f"events_per_s_{p}_processes": round(r) for p, r in rates.items()}
        if not args.projector_only:
            differ = await admin.fetchval(
                f"SELECT count(*) FROM (SELECT {BUSINESS} FROM records EXCEPT "
                f"SELECT {BUSINESS} FROM bench_raw_records) d"
            )
            say(f"records equal to the raw loop's rows: {differ == 0} ({differ} differ)")
            result["records_match_raw"] = differ == 0
        for key, base_key in (
            ("ratio_to_raw", "raw_limit_events_per_s"),
            ("ratio_to_raw_with_archive", "raw_with_archive_events_per_s"),
        ):
            result[key] = round(rates[main] / result[base_key], 3) if base_key in result else None
        for key in ("raw_limit_events_per_s", "peer_faststream_events_per_s"):
            result.setdefault(key, None)  # --projector-only: not measured

        for load in sorted(args.loads, key=lambda x: x != 0.5):  # the official figures first: at half load
            rate = (args.rate or rates[main]) * load
            spy = start_spy(workers.pids[0], args.profile / f"latency-{load:g}.txt") if args.profile else None
            got = await measure_latency(
                redis, admin, workers, phases, traffic.events(int(rate * args.latency_s)), rate, f"latency_{load:g}"
            )
            stop_spy(spy)
            if spy:
                report_profile(args.profile / f"latency-{load:g}.txt", f"latency_{load:g}")
            if "p99_ms" not in result:
                result |= got
            result.setdefault("latency_by_load", {})[f"{load:g}"] = {k: got[k] for k in ("p50_ms", "p99_ms", "max_ms")}
        if PROFILES:
            result["profile_pct"] = PROFILES
        result["note"] = (
            f"events_per_s: {main} `bizosaas worker projector` process(es), default settings (batch 500), draining a "
            f"backlog of {n} events published before they started (consumer throughput, first transaction start "
            "to last commit); raw loop and FastStream peer: one process, owner role, records-shaped table only "
            "(raw_with_archive also writes an event_log-shaped table, as the projector does); latency: steady "
            "publisher at half the events_per_s (latency_by_load: other fractions), publish -> Postgres commit "
            "timestamp; cpu_s: CPU seconds per process family and phase, `others` = the rest of the machine"
        )
        await admin.close()
        await redis.aclose()
        return result
    finally:
        if workers:
            workers.stop()
        redis_server.stop()
        pg.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 30,000 events (a run of about a minute)")
    parser.add_argument("--events", type=int, help="events to publish (default 200,000; 30,000 with --quick)")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--processes", default="1,2", help="worker process counts to measure (default 1,2)")
    parser.add_argument("--latency-s", type=float, default=None, help="length of the latency run")
    parser.add_argument(
        "--loads",
        default="0.5",
        help="latency run rates as fractions of events_per_s (0.5 is "
        "always run: p50_ms/p99_ms are at half load), e.g. 0.1,0.25,0.5",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="the rate --loads are fractions of (default: the measured "
        "events_per_s); a fixed rate compares projector changes at the same offered load",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the one-process projector runs into this folder")
    parser.add_argument(
        "--projector-only",
        action="store_true",
        help="skip the raw loop and FastStream peer (their keys are null): for comparing projector changes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (server and worker logs)")
    args = parser.parse_args()
    args.events = args.events or (30_000 if args.quick else 200_000)
    args.latency_s = args.latency_s or (5.0 if args.quick else 20.0)
    args.processes = [int(p) for p in args.processes.split(",")]
    args.loads = sorted({0.5, *(float(x) for x in args.loads.split(","))})
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    import uvloop  # the worker command runs on uvloop: so do the baselines

    result = uvloop.run(run(args))
    out = ROOT / "bench" / "results" / f"pipeline-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Sync benchmark: a full WooCommerce import through the Temporal sync workflow, against a plain loop doing the same
page reads, mapping and publishing, both measured until the records are committed.

    .venv/bin/python bench/sync.py [--quick] [--orders N]

Starts its own Redis, Postgres+pgvector, OpenBao and Temporal dev server (bizosaas.servers, in a temp folder), a
local WooCommerce store in a process of its own (tests/providers/woocommerce_server.py, the store the tests use)
seeded with N orders, one `bizosaas worker projector` and one `bizosaas temporal-worker`. Then, in one run:
  1. raw: one loop in this process, no Temporal and no checkpoints: GET each page (basic auth, 100 orders, ordered by
     id ascending: the sync's query), map each order with the provider's mapping.py, publish with the Publisher
     (idempotency keys, as the sync does); from the first request to the last order committed in `records` by the
     projector;
  2. sync: the ConnectorSync workflow for `orders` of a second connector (`sync.page` activities in the
     temporal-worker, each a step of pages for BIZOSAAS_SYNC_STEP_S: a Vault read per step; per page the GET,
     mapping, publish, checkpoint and seen ids in Postgres), started from here; the same end point;
  3. resume: the same import for a third connector with the temporal-worker SIGKILLed after a third of its pages and
     restarted at once: resume_overhead_s = its time minus the sync's (a dead worker's page waits for the activity's
     heartbeat timeout, then runs on the new worker from the saved position).
Ends with one JSON line: records_per_s, raw_records_per_s, ratio_to_raw, resume_overhead_s, and the CPU seconds
each process used in phases 1 and 2 (`cpu_s`; the machine may be shared) with their ratio (`cpu_ratio_to_raw`).
`--profile DIR` py-spies the temporal-worker during phase 2 (folded stacks in DIR/temporal-worker.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from probes import children, cpu_s, machine_busy_s, start_spy, stop_spy  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bizosaas.openbao import start_vault  # noqa: E402
from bizosaas.servers import free_port, start_postgres, start_redis  # noqa: E402
from bizosaas.temporal_dev import start_temporal  # noqa: E402
from connectors.base import IngestContext  # noqa: E402
from connectors.credentials import VaultSecrets  # noqa: E402
from connectors.normalize import run_mapper  # noqa: E402
from connectors.providers.woocommerce.mapping import MAPPERS  # noqa: E402
from connectors.temporal.shared import SYNC_WORKFLOW, TASK_QUEUE, SyncInput, SyncResult, sync_workflow_id  # noqa: E402
from db.migrate import migrate  # noqa: E402
from producers.publisher import Publisher  # noqa: E402

STORE = """
import sys
sys.path.insert(0, sys.argv[3])
from aiohttp import web
from providers.woocommerce_server import WooCommerceStore
shop = WooCommerceStore()
shop.seed(orders=int(sys.argv[2]))
web.run_app(shop.app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
KEY, SECRET = "ck_test_0123456789", "cs_test_0123456789"  # the test store's consumer key pair
PER_PAGE = 100


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spawn(base: Path, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(base / f"{name}.log", "ab") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


async def wait_http(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as reply:
                    if reply.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)


def log_has(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


async def logged(log: Path, text: str, timeout_s: float = 120.0) -> None:
    """Wait until a process's log has `text` (the workers say when they run): phase 1 must not share the machine
    with their start-up."""
    deadline = time.monotonic() + timeout_s
    while not log_has(log, text):
        if time.monotonic() > deadline:
            raise SystemExit(f"{log.name}: no {text!r} within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def committed(admin: asyncpg.Connection, tenant: str, count: int, timeout_s: float = 1800.0) -> float:
    """Wait until `count` orders of `tenant` are in `records`; answers the time it happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        n = await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1 AND kind = 'order'", tenant)
        if n >= count:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"{tenant}: {n} of {count} orders committed after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def add_connector(admin: asyncpg.Connection, secrets: VaultSecrets, tenant: str, store_url: str) -> str:
    connector = f"con_{tenant.replace('-', '')}{'0' * 20}"[:36]
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'woocommerce', $1, $3::jsonb)",
        tenant,
        connector,
        json.dumps({"store_url": store_url, "currency": "EUR"}),
    )
    await secrets.write(
        tenant, connector, {"consumer_key": KEY, "consumer_secret": SECRET, "webhook_secret": "bench-secret"}
    )
    return connector


async def raw_import(redis: Redis, store_url: str, tenant: str, connector: str, orders: int) -> None:
    """The plain loop: the same page reads, mapping and publishing, and nothing else."""
    publisher = Publisher(redis)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()}
    pages = -(-orders // PER_PAGE)
    async with aiohttp.ClientSession(headers=auth) as http:
        for page in range(1, pages + 1):
            # the query the sync's api.read_page sends for a full run: the store's work per page is the same
            params = {"page": page, "per_page": PER_PAGE, "orderby": "id", "order": "asc"}
            async with http.get(f"{store_url}/wp-json/wc/v3/orders", params=params) as reply:
                objects = await reply.json()
            now = datetime.now(UTC)
            events, keys = [], []
            for obj in objects:
                modified = obj.get("date_modified_gmt", "")
                ctx = IngestContext(tenant, connector, f"raw:{obj['id']}:{modified}", now, {"currency": "EUR"})
                made = run_mapper(ctx, "woocommerce", "raw orders", lambda out, o=obj: MAPPERS["order"](out, o))
                events += made
                keys += [f"raw:{connector}:{obj['id']}:{modified}:{i}" for i in range(len(made))]
            await publisher.publish(events, keys)


def cpu_by_process(named: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process (Postgres: with its backends, live and reaped)."""
    return {
        name: cpu_s(pid, with_reaped_children=name == "postgres")
        + (sum(cpu_s(kid) for kid in children(pid)) if name == "postgres" else 0.0)
        for name, pid in named.items()
    }


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 1) for name in before}


async def workflow_import(client: Client, tenant: str, connector: str) -> SyncResult:
    handle = await client.start_workflow(
        SYNC_WORKFLOW,
        SyncInput(tenant, connector, "orders", full=True, pending=True),
        id=sync_workflow_id(connector, "orders"),
        task_queue=TASK_QUEUE,
        result_type=SyncResult,
    )
    return await handle.result()


async def run(args: argparse.Namespace) -> dict:
    orders = args.orders or (10_000 if args.quick else 100_000)
    base = Path(tempfile.mkdtemp(prefix="bizosaas-bench-sync-"))
    servers, procs = [], []
    try:
        servers.append(start_redis(base / "redis"))
        servers.append(start_postgres(base / "pg"))
        servers.append(start_vault(base / "vault"))
        servers.append(start_temporal(base / "temporal", ui=False, timeout_s=120.0))
        redis_server, pg, vault, temporal = servers
        admin_url = pg.url.rsplit("/", 1)[0] + "/bizosaas_bench"
        service_url = f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/bizosaas_bench"
        await migrate(admin_url, service_url)
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": service_url,
            "VAULT_ADDR": vault.url,
            "VAULT_TOKEN": vault.extra["token"],
            "TEMPORAL_ADDRESS": temporal.url,
            "BIZOSAAS_ALLOW_PRIVATE_URLS": "true",
            "BIZOSAAS_METRICS_PORT": "-1",
        }
        store_port = free_port()
        say(f"seeding the local store with {orders:,} orders ...")
        procs.append(
            spawn(base, "store", [sys.executable, "-c", STORE, str(store_port), str(orders), str(ROOT / "tests")])
        )
        store_url = f"http://127.0.0.1:{store_port}"
        await wait_http(f"{store_url}/wp-json/wc/v3/orders?per_page=1", timeout_s=600)
        projector = spawn(base, "projector", [sys.executable, "-m", "bizosaas", "worker", "projector"], env)
        procs.append(projector)
        temporal_worker = spawn(base, "temporal-worker", [sys.executable, "-m", "bizosaas", "temporal-worker"], env)
        procs.append(temporal_worker)
        named = {
            "store": procs[0].pid,
            "projector": projector.pid,
            "temporal_worker": temporal_worker.pid,
            "temporal_server": temporal.proc.pid,
            "postgres": pg.proc.pid,
            "redis": redis_server.proc.pid,
            "bench": os.getpid(),
        }
        cpu: dict[str, dict[str, float]] = {}
        admin = await asyncpg.connect(admin_url)
        redis = Redis.from_url(redis_server.url)
        secrets = VaultSecrets(vault.url, vault.extra["token"])
        client = await Client.connect(temporal.url)
        try:
            raw_c = await add_connector(admin, secrets, "bench-raw", store_url)
            sync_c = await add_connector(admin, secrets, "bench-sync", store_url)
            resume_c = await add_connector(admin, secrets, "bench-resume", store_url)
            await logged(base / "projector.log", "running groups")
            await logged(base / "temporal-worker.log", "temporal worker on")
            busy_before = machine_busy_s()

            say("1. raw loop ...")
            before, started = cpu_by_process(named), time.monotonic()
            await raw_import(redis, store_url, "bench-raw", raw_c, orders)
            raw_s = await committed(admin, "bench-raw", orders) - started
            cpu["raw"] = cpu_used(before, cpu_by_process(named))
            say(f"   {orders:,} orders committed in {raw_s:.1f} s: {orders / raw_s:,.0f}/s")

            say("2. the sync workflow ...")
            spy = start_spy(temporal_worker.pid, args.profile / "temporal-worker.txt") if args.profile else None
            before, started = cpu_by_process(named), time.monotonic()
            result = await workflow_import(client, "bench-sync", sync_c)
            sync_s = await committed(admin, "bench-sync", orders) - started
            cpu["sync"] = cpu_used(before, cpu_by_process(named))
            stop_spy(spy)
            assert [r.records for r in result.runs] == [orders], result
            say(f"   {orders:,} orders committed in {sync_s:.1f} s: {orders / sync_s:,.0f}/s")

            say("3. the sync workflow with its worker SIGKILLed a third of the way ...")
            started = time.monotonic()
            task = asyncio.create_task(workflow_import(client, "bench-resume", resume_c))
            while (  # noqa: ASYNC110 - polling Postgres for another process's commits
                await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = 'bench-resume' AND kind = 'order'")
                < orders // 3
            ):
                await asyncio.sleep(0.05)
            temporal_worker.send_signal(signal.SIGKILL)
            temporal_worker.wait(30)
            procs.append(spawn(base, "temporal-worker-2", [sys.executable, "-m", "bizosaas", "temporal-worker"], env))
            await task
            resume_s = await committed(admin, "bench-resume", orders) - started
            say(f"   {orders:,} orders committed in {resume_s:.1f} s (with the kill)")
            busy_s = machine_busy_s() - busy_before
        finally:
            await admin.close()
            await redis.aclose()
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "orders": orders,
        "quick": args.quick,
        "cores": os.cpu_count(),
        "records_per_s": round(orders / sync_s),
        "raw_records_per_s": round(orders / raw_s),
        "ratio_to_raw": round(raw_s / sync_s, 3),
        "resume_overhead_s": round(resume_s - sync_s, 1),
        # CPU seconds of all our processes, raw over sync: what the ratio would be with the machine's cores all busy
        # on the import; steadier than the wall-clock ratio on a shared machine
        "cpu_ratio_to_raw": round(sum(cpu["raw"].values()) / sum(cpu["sync"].values()), 3),
        "raw_s": round(raw_s, 1),
        "sync_s": round(sync_s, 1),
        "resume_s": round(resume_s, 1),
        "machine_busy_s": round(busy_s, 1),
        "cpu_s": cpu,
        "note": "records committed in `records` by one `bizosaas worker projector`; the sync: ConnectorSync on one "
        "`bizosaas temporal-worker`, pages of 100, each checkpointed, in steps of BIZOSAAS_SYNC_STEP_S per activity; "
        "raw: the same GETs, mapping and idempotent publishing in one loop in the bench process; the store is a local "
        "process serving tests/providers/woocommerce_server.py",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 orders instead of 100,000 (about a minute)")
    parser.add_argument("--orders", type=int, help="orders to import")
    parser.add_argument("--profile", type=Path, help="py-spy the temporal-worker during the sync into this folder")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"sync-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

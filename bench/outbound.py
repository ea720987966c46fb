"""Outbound webhook benchmark: events delivered to 100 local receivers, one of them black-holed, by the platform
(`bizosaas worker outbound --no-dispatcher` queueing the attempts and one `bizosaas dispatcher` sending them, or with
--together the group and its dispatcher in one `bizosaas worker outbound`) against a plain aiohttp client posting
the same signed bodies in the same run.

    .venv/bin/python bench/outbound.py [--quick] [--events N] [--workers 1] [--together]

Starts its own Redis, Postgres+pgvector and OpenBao (bizosaas.servers, in a temp folder) and a receiver process
(100 ports in one aiohttp process: 99 answer 204 at once and note when each body arrived; one accepts connections and
never answers). Then, in one run:
  1. raw: this process posts every event's signed body to each of the 100 receivers with one aiohttp session, at most
     the dispatcher's per-endpoint concurrency in flight per receiver and its timeout; until every healthy receiver
     has every event;
  2. platform: one tenant with 100 subscriptions (one per receiver, secrets in Vault), the same number of events
     published to the stream, the worker and the dispatcher delivering; until every healthy receiver has every event;
  3. raw again, the workers stopped: the reference rate is the mean of 1 and 3 (a shared machine's speed moves by
     tens of percent within minutes; the two raw rates show by how much it moved during the run).
Each side first sends one event untimed (a warm-up: connections opened; the worker's imports done and each
subscription's signing secret read from Vault once, as a running dispatcher has), so both figures are steady rates.
healthy_p99_ms: publish -> arrival at a healthy receiver in the platform run (the event's occurred_at is its
publish time), while the black-holed receiver's tries time out. Ends with one JSON line: events_per_s,
raw_events_per_s, ratio_to_raw, healthy_p99_ms (events_per_s counts deliveries to healthy receivers per second),
and the CPU per healthy delivery of each side (cpu_ratio_to_raw: the raw client's over the worker's, Postgres' and
Redis' together; the receivers' CPU per delivery in both runs shows whether the machine's speed moved).
"""

from __future__ import annotations

import argparse
import asyncio
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
from probes import CpuMeter, cpu_s, machine_busy_s  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from redis.exceptions import ResponseError  # noqa: E402

from bizosaas.openbao import start_vault  # noqa: E402
from bizosaas.servers import die_with_parent, start_postgres, start_redis  # noqa: E402
from connectors.credentials import VaultSecrets  # noqa: E402
from connectors.signatures import new_standard_webhooks_secret, standard_webhooks_signature  # noqa: E402
from db.migrate import migrate  # noqa: E402
from events.ids import new_id  # noqa: E402
from events.outbound import payload  # noqa: E402
from events.streams import all_event_streams  # noqa: E402
from events.types import Order, OrderUpserted, Subject  # noqa: E402
from producers.publisher import Publisher  # noqa: E402

RECEIVERS = 100
CONCURRENCY = 4  # per endpoint, both runs (BIZOSAAS_OUTBOUND_ENDPOINT_CONCURRENCY)
MAX_IN_FLIGHT = 256  # connections at once, both runs (BIZOSAAS_OUTBOUND_MAX_IN_FLIGHT)
TIMEOUT_S = 5.0  # both runs (BIZOSAAS_OUTBOUND_TIMEOUT_S): the black-holed receiver's tries end here
TENANT = "bench-outbound"

RECEIVER = """
import asyncio, json, sys, time
from datetime import datetime
from aiohttp import web
count, ready_file = int(sys.argv[1]), sys.argv[2]  # every server binds port 0: no race for a "free" port
arrived = []  # (port, occurred_at unix ms, arrival unix ms)

def site(port):
    async def hook(request):
        body = await request.read()
        stamp = datetime.fromisoformat(json.loads(body)["data"]["occurred_at"]).timestamp() * 1000
        arrived.append((port, stamp, time.time() * 1000))
        return web.Response(status=204)
    return hook

async def stats(request):
    if request.method == "POST":
        arrived.clear()
        return web.Response(status=204)
    return web.json_response({"received": len(arrived), "per_port": len({a[0] for a in arrived}), "ms": [
        a[2] - a[1] for a in arrived]} if request.query.get("full") else {"received": len(arrived)})

async def black_hole(reader, writer):
    await asyncio.sleep(3600)

async def serve(app):
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return site._server.sockets[0].getsockname()[1]

async def main():
    ports = []
    for i in range(count - 1):
        app = web.Application()
        app.router.add_post("/hook", site(i))
        ports.append(await serve(app))
    hole = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    ports.append(hole.sockets[0].getsockname()[1])
    app = web.Application()
    app.router.add_route("*", "/stats", stats)
    stats_port = await serve(app)
    with open(ready_file + ".tmp", "w") as out:
        json.dump({"ports": ports, "stats": stats_port}, out)
    import os
    os.rename(ready_file + ".tmp", ready_file)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spawn(base: Path, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child that ends with this process, even if it is killed (a worker left behind would hold the cores)."""
    with open(base / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=die_with_parent
        )


async def received(http: aiohttp.ClientSession, stats: str, full: bool = False) -> dict:
    async with http.get(stats + ("?full=1" if full else "")) as reply:
        return await reply.json()


async def group_ready(redis: Redis, timeout_s: float = 120.0) -> None:
    """Until the worker has created the `outbound` group on every partition (it reads from the start: no event is
    missed, but its start-up should not count as delivery time)."""
    deadline = time.monotonic() + timeout_s
    for stream in all_event_streams():
        while True:
            try:
                if any(g["name"] == b"outbound" for g in await redis.xinfo_groups(stream)):
                    break
            except ResponseError:  # the stream does not exist yet
                pass
            if time.monotonic() > deadline:
                raise SystemExit("bizosaas worker outbound did not start")
            await asyncio.sleep(0.1)


async def workers_running(base: Path, names: list[str], timeout_s: float = 120.0) -> None:
    """Until every worker has logged that it runs (the last one may start after the group exists)."""
    deadline = time.monotonic() + timeout_s
    logs = [base / f"{name}.log" for name in names]
    while not all([" running" in await asyncio.to_thread(log.read_text) for log in logs]):
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not start: see {base}")
        await asyncio.sleep(0.1)


async def receivers_ready(ready: Path, proc: subprocess.Popen, log: Path) -> dict:
    """The receivers' ports, once their process has bound them all (it writes `ready` then)."""
    deadline = time.monotonic() + 120.0
    while not await asyncio.to_thread(ready.exists):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the receivers did not start: see {log}")
        await asyncio.sleep(0.2)
    return json.loads(await asyncio.to_thread(ready.read_text))


async def until_received(http: aiohttp.ClientSession, stats: str, count: int, timeout_s: float = 1800.0) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            n = (await received(http, stats))["received"]
        except aiohttp.ClientError:
            n = 0
        if n >= count:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"{n} of {count} deliveries after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


def events(n: int) -> list[OrderUpserted]:
    now = datetime.now(UTC)
    return [
        OrderUpserted(
            id=new_id(),
            tenant_id=TENANT,
            source="bench",
            provider="woocommerce",
            subject=Subject(kind="order", external_id=str(i)),
            occurred_at=now,
            recorded_at=now,
            data=Order(number=str(i), status="processing", total_minor=1999, currency="EUR"),
        )
        for i in range(n)
    ]


async def raw_run(urls: list[str], secrets: list[str], n: int, http: aiohttp.ClientSession, stats: str) -> float:
    """The plain client: every event to every receiver, CONCURRENCY per receiver, TIMEOUT_S each, one session with
    the dispatcher's connection limit; a failed post is tried again. One event goes first, untimed, as the
    platform's warm-up does (connections opened)."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    )

    async def endpoint(url: str, secret: str, bodies: list[tuple[str, bytes]]) -> None:
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                msg_id, body = queue.pop()
                ts = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(ts),
                    "webhook-signature": standard_webhooks_signature([secret], msg_id, ts, body),
                }
                try:
                    async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
                        await r.read()
                        ok = r.status < 300
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                if not ok:  # try it again later, as the dispatcher would (no back-off here)
                    queue.insert(0, (msg_id, body))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    async def send_all(count: int) -> float:
        bodies = [(e.id, payload(e)) for e in events(count)]
        started = time.monotonic()
        tasks = [asyncio.create_task(endpoint(u, s, bodies)) for u, s in zip(urls, secrets)]
        done = await until_received(http, stats, count * (RECEIVERS - 1))
        for task in tasks:  # the black-holed receiver's posts would go on timing out: stop them
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return done - started

    await send_all(1)  # warm-up
    await forget_arrivals(http, stats)
    took_s = await send_all(n)
    await session.close()
    return took_s


async def forget_arrivals(http: aiohttp.ClientSession, stats: str) -> None:
    async with http.post(stats):
        pass


async def run(args: argparse.Namespace) -> dict:
    n = args.events or (200 if args.quick else 2000)
    base = Path(tempfile.mkdtemp(prefix="bizosaas-bench-outbound-"))
    servers, procs = [], []
    try:
        servers.append(start_redis(base / "redis"))
        servers.append(start_postgres(base / "pg"))
        servers.append(start_vault(base / "vault"))
        redis_server, pg, vault = servers
        admin_url = pg.url.rsplit("/", 1)[0] + "/bizosaas_bench"
        service_url = f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/bizosaas_bench"
        await migrate(admin_url, service_url)
        ready = base / "receivers.json"
        receiver_proc = spawn(base, "receivers", [sys.executable, "-c", RECEIVER, str(RECEIVERS), str(ready)])
        procs.append(receiver_proc)
        listening = await receivers_ready(ready, receiver_proc, base / "receivers.log")
        stats = f"http://127.0.0.1:{listening['stats']}/stats"
        urls = [f"http://127.0.0.1:{p}/hook" for p in listening["ports"]]  # the last one is black-holed
        secrets = [new_standard_webhooks_secret() for _ in urls]
        admin = await asyncpg.connect(admin_url)
        redis = Redis.from_url(redis_server.url)
        store = VaultSecrets(vault.url, vault.extra["token"], collection="hooks")
        async with aiohttp.ClientSession() as http:
            busy_before = machine_busy_s()

            meter = CpuMeter(pg.proc.pid, redis_server.proc.pid)

            async def timed_raw(when: str) -> tuple[float, dict[str, float]]:
                say(f"{when} raw: {n:,} events to {RECEIVERS} receivers (one black-holed), a plain aiohttp client ...")
                cpu_before, receivers_before = meter.sample(), cpu_s(receiver_proc.pid)
                took_s = await raw_run(urls, secrets, n, http, stats)
                used = CpuMeter.used(cpu_before, meter.sample())
                used["receivers"] = cpu_s(receiver_proc.pid) - receivers_before
                say(f"   {n * (RECEIVERS - 1):,} healthy deliveries in {took_s:.1f} s")
                await forget_arrivals(http, stats)
                return took_s, used

            raw_before_s, raw_cpu = await timed_raw("1.")

            say("2. platform: 100 subscriptions, `bizosaas worker outbound` ...")
            await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", TENANT)
            for i, (url, secret) in enumerate(zip(urls, secrets)):
                hook_id = f"hook_bench_{i:03d}"
                await store.write(TENANT, hook_id, {"webhook_secret": secret})
                await admin.execute(
                    "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) "
                    "VALUES ($1, $2, $3, '{commerce.order.*}')",
                    TENANT,
                    hook_id,
                    url,
                )
            env = {
                **os.environ,
                "REDIS_URL": redis_server.url,
                "DATABASE_URL": service_url,
                "VAULT_ADDR": vault.url,
                "VAULT_TOKEN": vault.extra["token"],
                "BIZOSAAS_ALLOW_PRIVATE_URLS": "true",
                "BIZOSAAS_METRICS_PORT": "-1",
                "BIZOSAAS_OUTBOUND_TIMEOUT_S": str(TIMEOUT_S),
                "BIZOSAAS_OUTBOUND_ENDPOINT_CONCURRENCY": str(CONCURRENCY),
                "BIZOSAAS_OUTBOUND_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
            }
            bizosaas = [sys.executable, "-m", "bizosaas"]
            if args.together:  # each runs the group and a dispatcher (claims are leased: no try twice)
                commands = {f"worker{i}": [*bizosaas, "worker", "outbound"] for i in range(args.workers)}
            else:  # one group, the dispatchers apart
                commands = {"worker": [*bizosaas, "worker", "outbound", "--no-dispatcher"]}
                commands |= {f"dispatcher{i}": [*bizosaas, "dispatcher"] for i in range(args.workers)}
            for name, command in commands.items():
                procs.append(spawn(base, name, command, env))
            await group_ready(redis)
            await workers_running(base, list(commands))
            publisher = Publisher(redis)
            await publisher.publish(events(1))  # warm-up, untimed: imports, connections, the secrets' first read
            await until_received(http, stats, RECEIVERS - 1)
            await forget_arrivals(http, stats)
            worker_pids = [p.pid for p in procs[1:]]
            cpu_before, receivers_before = meter.sample(worker_pids), cpu_s(receiver_proc.pid)
            started = time.monotonic()
            await publisher.publish(events(n))
            platform_s = await until_received(http, stats, n * (RECEIVERS - 1)) - started
            platform_cpu = CpuMeter.used(cpu_before, meter.sample(worker_pids)) | {
                "receivers": cpu_s(receiver_proc.pid) - receivers_before
            }
            latencies = sorted((await received(http, stats, full=True))["ms"])
            say(f"   {n * (RECEIVERS - 1):,} healthy deliveries in {platform_s:.1f} s")
            for proc in procs[1:]:  # the workers stop before the raw client's second run
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            await forget_arrivals(http, stats)
            raw_after_s, _ = await timed_raw("3.")
            busy_s = machine_busy_s() - busy_before
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
        if sys.exc_info()[0] is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            say(f"logs kept in {base}")
    deliveries = n * (RECEIVERS - 1)
    raw_s = (raw_before_s + raw_after_s) / 2  # the machine's speed may move during a run: the mean of both sides
    return {
        "events": n,
        "receivers": RECEIVERS,
        "quick": args.quick,
        "workers": args.workers,
        "together": args.together,
        "cores": os.cpu_count(),
        "events_per_s": round(deliveries / platform_s),
        "raw_events_per_s": round(deliveries / raw_s),
        "ratio_to_raw": round(raw_s / platform_s, 3),
        "raw_before_events_per_s": round(deliveries / raw_before_s),
        "raw_after_events_per_s": round(deliveries / raw_after_s),
        # CPU per healthy delivery (µs): the sender's side (the raw client; the worker, Postgres, Redis) and the
        # receivers', which do the same work in both runs: its change between runs shows how the machine's speed moved
        "raw_client_cpu_us": round(raw_cpu["bench"] * 1e6 / deliveries),
        "raw_receivers_cpu_us": round(raw_cpu["receivers"] * 1e6 / deliveries),
        "worker_cpu_us": round(platform_cpu["workers"] * 1e6 / deliveries),
        "postgres_cpu_us": round(platform_cpu["postgres"] * 1e6 / deliveries),
        "redis_cpu_us": round(platform_cpu["redis"] * 1e6 / deliveries),
        "platform_receivers_cpu_us": round(platform_cpu["receivers"] * 1e6 / deliveries),
        "cpu_ratio_to_raw": round(
            raw_cpu["bench"] / (platform_cpu["workers"] + platform_cpu["postgres"] + platform_cpu["redis"]), 3
        ),
        "healthy_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))]),
        "raw_s": round(raw_s, 1),
        "platform_s": round(platform_s, 1),
        "machine_busy_s": round(busy_s, 1),
        "note": "deliveries to the 99 healthy receivers per second while the 100th never answers; platform: the "
        "outbound group and `workers` dispatchers (apart, or in the same processes when `together`; an attempt row "
        "written and updated per delivery); raw: the same signed bodies from one aiohttp client in the bench "
        "process, no database; worker_cpu_us counts every platform process",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 events (19,800 deliveries) instead of 2,000")
    parser.add_argument("--events", type=int, help="events to publish")
    parser.add_argument("--workers", type=int, default=1, help="processes sending (default 1)")
    parser.add_argument(
        "--together", action="store_true", help="each sending process runs the group too (`bizosaas worker outbound`)"
    )
    result = asyncio.run(run(parser.parse_args()))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"outbound-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

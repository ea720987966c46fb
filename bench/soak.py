"""Soak: minutes of steady half load through the gateway with every consumer group running.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate N] [--sample-s 5] [--product-share 0.01]

Starts its own Redis, Postgres, OpenBao and Temporal (dev server) in a temp folder (as bench/ingest.py does),
migrates, creates a tenant and a WooCommerce connector, and runs as separate processes what production runs:
`bizosaas gateway` and one `bizosaas worker` with every group (all of consumers/groups.py: projector, indexer,
agents, outbound, ...).
  1. the saturating rate: wrk against the gateway for a few seconds with the worker running (skipped with --rate);
  2. the soak: signed webhooks at half that rate (an open loop: a request every 1/rate s whatever the answers),
     each a distinct order (or, for --product-share of them, a distinct product, which the indexer embeds), for
     --minutes; every --sample-s seconds the RSS of every process (gateway, worker and its conversion children,
     Redis, Postgres with its backends, OpenBao; psutil), each group's lag (unread + pending over the streams), the
     dead letters and rejected events;
  3. the count: once every group has drained, each accepted webhook's record must be in `records` and its event
     in `event_log` (and each product's entity in `rag_entities`): what is missing is lost.
Prints RSS flatness per process (last sample against the first after the warm-up, aim within 10%), the max lag per
group, the errors (5xx, failed requests, dead letters, rejected) and the lost count; ends with one JSON line (also
written to bench/results/soak-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import psutil  # noqa: E402
from ingest import (  # noqa: E402
    GATEWAY,
    ORDER,
    WORKER,
    WRK_SCRIPT,
    platform_env,
    setup_tenant,
    sign,
    start_bao,
    wait_http,
    wrk,
)
from redis.asyncio import Redis  # noqa: E402

from bizosaas.servers import free_port, start_postgres, start_redis  # noqa: E402
from bizosaas.temporal_dev import start_temporal  # noqa: E402
from consumers.groups import GROUP_FACTORIES  # noqa: E402
from db.migrate import migrate  # noqa: E402
from events.streams import as_text, dead_stream  # noqa: E402

PRODUCT = ORDER.parent / "product.updated.json"
FLAT_WITHIN = 0.10  # RSS of a process after the warm-up may move this much


def say(line: str) -> None:
    print(line, flush=True)


RETENTION_S = 60  # the streams' retention and the dedupe window in the soak: steady within the warm-up (platform env)
SCAN_COUNT = 1000  # keys per SCAN step: the default 10 took ~30 s per sample over 300,000 dedupe keys


class Sender:
    """Signed WooCommerce webhooks at a fixed rate, each a new order or product; counts the answers."""

    def __init__(self, url: str, connector: str, rate: float, product_share: float) -> None:
        self.url, self.connector, self.rate = url, connector, rate
        self.product_every = round(1 / product_share) if product_share > 0 else 0
        self.templates = {"order": json.loads(ORDER.read_bytes()), "product": json.loads(PRODUCT.read_bytes())}
        self.answers: Counter[str] = Counter()
        self.accepted: dict[str, list[str]] = {"order": [], "product": []}  # kind -> external ids answered 2xx
        self.sent = 0

    async def run(self, seconds: float) -> None:
        tasks: set[asyncio.Task] = set()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < seconds:
                for _ in range(int(elapsed * self.rate) - self.sent):
                    self.sent += 1
                    task = asyncio.create_task(self.post(http, self.sent))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(0.005)
            await asyncio.gather(*tasks)

    async def post(self, http: aiohttp.ClientSession, n: int) -> None:
        kind = "product" if self.product_every and n % self.product_every == 0 else "order"
        external_id = 10_000_000 + n
        body = json.dumps({**self.templates[kind], "id": external_id}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": f"{kind}.{'created' if kind == 'order' else 'updated'}",
            "X-WC-Webhook-Delivery-ID": f"soak-{n}",
            "X-WC-Webhook-Signature": sign(body),
        }
        try:
            async with http.post(f"{self.url}/v1/webhooks/{self.connector}", data=body, headers=headers) as resp:
                await resp.read()
                self.answers[f"{resp.status // 100}xx"] += 1
                if resp.status // 100 == 2:
                    self.accepted[kind].append(str(external_id))
        except (TimeoutError, aiohttp.ClientError):
            self.answers["failed"] += 1


def rss_mb(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """Memory of each named process with its children (Postgres' backends, the worker's conversion processes), as
    PSS: a shared page counts once across the processes that map it (RSS summed over Postgres' backends counted its
    shared buffers once per backend)."""
    out = {}
    for name, proc in procs.items():
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_full_info().pss
            except psutil.NoSuchProcess:
                continue
        out[name] = round(total / 2**20, 1)
    return out


async def group_lag(redis: Redis) -> dict[str, int]:
    """Per group: entries not yet read plus entries read and not acknowledged, over every stream it reads."""
    lag: Counter[str] = Counter()
    async for key in redis.scan_iter(match="bz:*", count=SCAN_COUNT, _type="stream"):
        for info in await redis.xinfo_groups(key):
            lag[as_text(info["name"])] += (info.get("lag") or 0) + info["pending"]
    return dict(lag)


async def dead_and_rejected(redis: Redis) -> tuple[int, int]:
    dead = sum([await redis.xlen(dead_stream(g)) for g in GROUP_FACTORIES])
    rejected = 0
    async for key in redis.scan_iter(match="bz:rejected:*", count=SCAN_COUNT, _type="stream"):
        rejected += await redis.xlen(key)
    return dead, rejected


async def sample_until(
    stop: asyncio.Event, redis: Redis, procs: dict[str, psutil.Process], every_s: float, samples: list
) -> None:
    """Sample until `stop` is set (not cancelled: a cancellation inside a redis command left the sampler running)."""
    started = time.monotonic()
    while not stop.is_set():
        lag = await group_lag(redis)
        dead, rejected = await dead_and_rejected(redis)
        memory = await redis.info("memory")  # what Redis holds vs what its process maps (fragmentation)
        redis_mb = {k: round(memory[k] / 2**20, 1) for k in ("used_memory", "used_memory_rss")}
        samples.append(
            {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mb": rss_mb(procs),
                "lag": lag,
                "redis_memory_mb": redis_mb,
            }
        )
        say(
            f"  t={samples[-1]['t_s']:>5.0f}s rss "
            + " ".join(f"{k} {v:.0f}" for k, v in samples[-1]["rss_mb"].items())
            + f" MB (redis used {redis_mb['used_memory']:.0f}, rss {redis_mb['used_memory_rss']:.0f})"
            + f"; max lag {max(lag.values(), default=0)}; dead {dead}; rejected {rejected}"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def wait_all_drained(redis: Redis, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not any((await group_lag(redis)).values()):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise SystemExit(f"the groups did not drain within {timeout_s:.0f} s: {await group_lag(redis)}")


async def lost(admin_url: str, tenant: str, sender: Sender) -> dict[str, int]:
    """Accepted webhooks whose record, event or (products) indexed entity is missing."""
    conn = await asyncpg.connect(admin_url)  # the owner: counts across row-level security
    try:
        missing = {}
        for kind, ids in sender.accepted.items():
            missing[f"{kind}_records"] = len(ids) - await conn.fetchval(
                "SELECT count(*) FROM records WHERE tenant_id = $1 AND kind = $2 AND external_id = ANY($3)",
                tenant,
                kind,
                ids,
            )
            missing[f"{kind}_events"] = len(ids) - await conn.fetchval(
                "SELECT count(DISTINCT subject_id) FROM event_log WHERE tenant_id = $1 AND subject_kind = $2 "
                "AND subject_id = ANY($3)",
                tenant,
                kind,
                ids,
            )
        missing["product_indexed"] = len(sender.accepted["product"]) - await conn.fetchval(
            "SELECT count(DISTINCT external_id) FROM rag_entities WHERE tenant_id = $1 AND kind = 'product' "
            "AND external_id = ANY($2)",
            tenant,
            sender.accepted["product"],
        )
        return missing
    finally:
        await conn.close()


def flatness(samples: list[dict], warmup_s: float) -> dict[str, dict]:
    """Per process: RSS at the first sample after the warm-up, at the last, and the change."""
    after = next((s for s in samples if s["t_s"] >= warmup_s), samples[-1])
    last = samples[-1]
    return {
        name: {
            "warm_mb": after["rss_mb"][name],
            "last_mb": last["rss_mb"][name],
            "change": round(last["rss_mb"][name] / after["rss_mb"][name] - 1, 3),
        }
        for name in last["rss_mb"]
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    parser.add_argument("--rate", type=float, help="webhooks per second (default: half the measured saturation)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup-s", type=float, help="samples before this are warm-up (default a fifth, ≤ 120 s)")
    parser.add_argument("--product-share", type=float, default=0.01, help="share of webhooks that are products")
    args = parser.parse_args()
    seconds = args.minutes * 60
    warmup_s = args.warmup_s if args.warmup_s is not None else min(120.0, seconds / 5)
    load_before = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="bizosaas-soak-"))
    procs: list[subprocess.Popen] = []
    servers = []
    try:
        # Temporal too: the commands and agents groups start workflows (no Temporal worker runs them here)
        servers = [start_redis(base / "redis"), start_postgres(base / "pg")]
        servers.append(start_temporal(base / "temporal", ui=False, timeout_s=90.0))
        redis_url = servers[0].url
        admin_url = servers[1].url.rsplit("/", 1)[0] + "/bizosaas"
        service_url = admin_url.replace("postgres@", "bizosaas_app:bench@")
        await migrate(admin_url, service_url)
        bao, vault_addr = start_bao(base)
        procs.append(bao)
        env = {
            **platform_env(redis_url, service_url, admin_url, vault_addr),
            "TEMPORAL_ADDRESS": servers[2].url,
            # the streams keep RETENTION_S of events (production: a day, in a Redis sized for it); at half load a day
            # would pass this Redis' 1 GB limit in minutes and the gateway would answer 503 (storage-full) from then on
            "BIZOSAAS_STREAM_RETENTION_S": str(RETENTION_S),
            # likewise the webhook delivery ids (production: 72 h): two keys per webhook would grow Redis all along
            "BIZOSAAS_DEDUPE_WINDOW_S": str(RETENTION_S),
            "BIZOSAAS_TRIM_INTERVAL_S": "10",
        }
        port = free_port()
        for name, code, extra in (("gateway", GATEWAY, [str(port)]), ("worker", WORKER, [])):  # no group: all
            log = open(base / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230 - set-up; the child keeps writing
            procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - set-up, before anything is measured
                    [sys.executable, "-c", code, *extra], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                )
            )
        gateway = f"http://127.0.0.1:{port}"
        wait_http(f"{gateway}/readyz", procs[1])
        tenant, _key, connector = await setup_tenant(gateway)
        watched = {
            "gateway": psutil.Process(procs[1].pid),
            "worker": psutil.Process(procs[2].pid),
            "redis": psutil.Process(servers[0].proc.pid),
            "postgres": psutil.Process(servers[1].proc.pid),
            "openbao": psutil.Process(bao.pid),
        }
        redis = Redis.from_url(redis_url)
        say(f"servers up in {base}; load average before: {' '.join(f'{x:.2f}' for x in load_before)}")

        rate = args.rate
        if rate is None:
            body_file, script = base / "order.json", base / "webhook.lua"
            body_file.write_bytes(ORDER.read_bytes())
            script.write_text(WRK_SCRIPT)
            target = f"{gateway}/v1/webhooks/{connector}"
            saturated = wrk(target, script, body_file, sign(ORDER.read_bytes()), "sat", 5, 64)
            rate = saturated["ok_per_s"] / 2
            say(f"saturation (worker running): {saturated['ok_per_s']:.0f} webhooks/s; soak at {rate:.0f}/s")
            await wait_all_drained(redis, 300)

        sender = Sender(gateway, connector, rate, args.product_share)
        samples: list[dict] = []
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_until(stop_sampling, redis, watched, args.sample_s, samples))
        started = time.monotonic()
        await sender.run(seconds)
        sent_s = time.monotonic() - started
        drain_s = await wait_all_drained(redis, 300)
        stop_sampling.set()
        await sampler  # ended: nothing reported after Redis stops
        dead, rejected = await dead_and_rejected(redis)
        missing = await lost(admin_url, tenant, sender)
        await redis.aclose()
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a process exited during the soak; see {base}/*.log")

        flat = flatness(samples, warmup_s)
        max_lag = {g: max(s["lag"].get(g, 0) for s in samples) for g in sorted({g for s in samples for g in s["lag"]})}
        errors = {
            "5xx": sender.answers["5xx"],
            "4xx": sender.answers["4xx"],
            "failed": sender.answers["failed"],
            "dead_letters": dead,
            "rejected": rejected,
        }
        say(
            "RSS (after warm-up -> last): "
            + ", ".join(
                f"{n} {f['warm_mb']:.0f} -> {f['last_mb']:.0f} MB ({100 * f['change']:+.1f}%)" for n, f in flat.items()
            )
        )
        say("max lag per group: " + ", ".join(f"{g} {v}" for g, v in max_lag.items()))
        say(f"errors: {errors}; lost: {missing}")
        result = {
            "minutes": args.minutes,
            "rate_per_s": round(rate, 1),
            "achieved_per_s": round(sender.sent / sent_s, 1),
            "sent": sender.sent,
            "accepted": sum(map(len, sender.accepted.values())),
            "products": len(sender.accepted["product"]),
            "rss_flat": all(abs(f["change"]) <= FLAT_WITHIN for f in flat.values()),
            "rss": flat,
            "max_lag": max_lag,
            "max_lag_all": max(max_lag.values(), default=0),
            "errors": errors,
            "lost": sum(missing.values()),
            "missing": missing,
            "drain_after_s": round(drain_s, 1),
            "warmup_s": warmup_s,
            "samples": len(samples),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result), flush=True)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM too stops the servers and processes (the finally block)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    asyncio.run(main())

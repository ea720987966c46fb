"""Ingest with several processes: signed WooCommerce order webhooks against `bizosaas gateway --processes N`, a bare
aiohttp handler with the same N (SO_REUSEPORT) and the FastAPI + uvicorn receiver a user would otherwise write
(bench/fastapi_peer.py, `uvicorn --workers N`), for N = 1 and 2.

    .venv/bin/python bench/ingest_peer.py [--seconds 5] [--connections 64] [--processes 1 2]

Starts its own Redis, Postgres and OpenBao like bench/ingest.py (whose helpers it uses), no worker: the figure is
the receivers' own capacity, with every event and delivery record in Redis. Load: Debian's `wrk` (apt-get install -y
wrk) with bench/ingest.py's Lua script (every request its own delivery id: nothing is deduplicated); short runs,
each warmed for 2 s, the three receivers' runs alternating (`--rounds`, averaged). Prints per N: webhooks/s and
events/s of each, `ratio_to_bare`, `ratio_to_fastapi`, and `uptime` before each run (the machine is shared: only
ratios within one run compare). Ends with one JSON line. About 2 x (rounds x 3 x 7 s + start-up).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
from ingest import ADMIN_TOKEN, ORDER, SECRET, WRK_SCRIPT, setup_tenant, sign, start_bao, wait_http, wrk  # noqa: E402

from bizosaas.servers import free_port, start_postgres, start_redis  # noqa: E402
from db.migrate import migrate  # noqa: E402

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BARE = """
import sys, uvloop
from aiohttp import web
async def handle(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/v1/webhooks/{connector_id}", handle)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, reuse_port=True)
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def say(line: str) -> None:
    print(line, flush=True)


def spawn(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    procs.clear()


async def events_per_webhook(url: str) -> int:
    body = ORDER.read_bytes()
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Delivery-ID": f"count-{os.getpid()}-{url}",
        "X-WC-Webhook-Signature": sign(body),
    }
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["events"]


async def search_model_loaded(url: str, timeout_s: float = 180.0) -> None:
    """Every process has loaded its search model (a thread at start: its CPU must not fall in a measured run): 20
    answers in a row from `/readyz` on new connections, which SO_REUSEPORT spreads over the processes."""
    deadline, in_a_row = time.monotonic() + timeout_s, 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        while in_a_row < 20:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}: the search model did not load within {timeout_s} s")
            async with http.get(f"{url}/readyz") as resp:
                ready = (await resp.json())["search"] == "ready"
            in_a_row = in_a_row + 1 if ready else 0
            if not ready:
                await asyncio.sleep(0.5)


def cpu_s(roots: list[int]) -> float:
    """CPU time (user + system) of these processes and all their descendants, from /proc."""
    total, pending = 0.0, list(roots)
    while pending:
        pid = pending.pop()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / TICKS_PER_S
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def measure(name: str, target: tuple[str, list[int]], files: tuple[Path, Path], seconds: int, connections: int) -> dict:
    """One warmed run: webhooks/s, and the receiver's CPU per webhook (its processes' CPU time over the run: what a
    busy shared machine changes least)."""
    url, roots = target
    script, body_file = files
    signature = sign(body_file.read_bytes())
    wrk(url, script, body_file, signature, f"{name}-warm", 2, connections)
    load = uptime()
    cpu_before = cpu_s(roots)
    run = wrk(url, script, body_file, signature, name, seconds, connections)
    cpu_us = (cpu_s(roots) - cpu_before) * 1e6 / max(1, run["requests"])
    say(
        f"  {name}: {run['ok_per_s']:.0f} webhooks/s, {cpu_us:.0f} us CPU each "
        f"(non-2xx {run['non2xx']}, p99 {run['p99_us'] / 1000:.1f} ms)"
    )
    say(f"    uptime before: {load}")
    return {"per_s": run["ok_per_s"], "cpu_us": cpu_us, "non2xx": run["non2xx"], "uptime": load}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2, help="measured runs of each receiver, alternating")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    base = Path(tempfile.mkdtemp(prefix="bizosaas-ingest-peer-"))
    servers, procs, running = [], [], []
    try:
        servers = [start_redis(base / "redis"), start_postgres(base / "pg")]
        redis_url = servers[0].url
        admin_url = servers[1].url.rsplit("/", 1)[0] + "/bizosaas"
        service_url = admin_url.replace("postgres@", "bizosaas_app:bench@")
        await migrate(admin_url, service_url)
        bao, vault_addr = start_bao(base)
        procs.append(bao)
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": service_url,
            "DATABASE_ADMIN_URL": admin_url,
            "VAULT_ADDR": vault_addr,
            "VAULT_TOKEN": "root",
            "BIZOSAAS_ADMIN_TOKEN": ADMIN_TOKEN,
            "BIZOSAAS_ALLOW_PRIVATE_URLS": "true",
            "BIZOSAAS_WEBHOOK_RATE_PER_S": "1e9",
            "BIZOSAAS_WEBHOOK_BURST": "1000000000",
            "PYTHONPATH": str(ROOT),
        }
        body_file, script = base / "order.json", base / "webhook.lua"
        body_file.write_bytes(ORDER.read_bytes())
        script.write_text(WRK_SCRIPT)
        files = (script, body_file)
        tenant = connector = ""
        results = {}
        for n in args.processes:
            say(f"N = {n}")
            port = free_port()
            gateway = f"http://127.0.0.1:{port}"
            cmd = [sys.executable, "-m", "bizosaas", "gateway", "--processes", str(n), "--port", str(port)]
            running.append(spawn(cmd, env, base / f"gateway-{n}.log"))
            wait_http(f"{gateway}/readyz", running[-1], timeout_s=120)
            await search_model_loaded(gateway)
            if not connector:
                tenant, _key, connector = await setup_tenant(gateway)
            per_webhook = await events_per_webhook(f"{gateway}/v1/webhooks/{connector}")

            bare_port = free_port()
            bare = [spawn([sys.executable, "-c", BARE, str(bare_port)], env, base / "bare.log") for _ in range(n)]
            running.extend(bare)
            wait_http(f"http://127.0.0.1:{bare_port}/", bare[0])

            peer_port = free_port()
            peer_env = {
                **env,
                "BENCH_REDIS_URL": redis_url,
                "BENCH_SECRET": SECRET,
                "BENCH_TENANT": tenant,
                "BENCH_CONNECTOR": connector,
            }
            uvicorn = [sys.executable, "-m", "uvicorn", "fastapi_peer:app", "--app-dir", str(ROOT / "bench")]
            uvicorn += ["--port", str(peer_port), "--workers", str(n), "--loop", "uvloop", "--http", "httptools"]
            uvicorn += ["--no-access-log", "--log-level", "warning"]
            running.append(spawn(uvicorn, peer_env, base / "fastapi.log"))
            peer = f"http://127.0.0.1:{peer_port}/v1/webhooks/{connector}"
            wait_http(f"http://127.0.0.1:{peer_port}/docs", running[-1], timeout_s=120)
            for _ in range(50):  # every uvicorn worker up (each answers with the same events)
                assert await events_per_webhook(peer) == per_webhook

            # all three up (idle ones cost nothing); their runs alternate, so a neighbour's burst on the shared
            # machine falls on all of them rather than on one
            targets = {
                "gateway": (f"{gateway}/v1/webhooks/{connector}", [running[0].pid]),
                "bare": (f"http://127.0.0.1:{bare_port}/v1/webhooks/x", [p.pid for p in bare]),
                "fastapi": (peer, [running[-1].pid]),
            }
            runs = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    runs[name].append(measure(name, url, files, args.seconds, args.connections))
            stop(running)
            row = {
                name: {
                    "per_s": sum(r["per_s"] for r in rs) / len(rs),
                    "cpu_us": sum(r["cpu_us"] for r in rs) / len(rs),
                    "non2xx": sum(r["non2xx"] for r in rs),
                    "uptime": rs[0]["uptime"],
                }
                for name, rs in runs.items()
            }

            gw, bare, fast = row["gateway"]["per_s"], row["bare"]["per_s"], row["fastapi"]["per_s"]
            results[f"n{n}"] = {
                "events_per_webhook": per_webhook,
                "gateway_events_per_s": round(gw * per_webhook),
                "fastapi_events_per_s": round(fast * per_webhook),
                "gateway_webhooks_per_s": round(gw),
                "bare_requests_per_s": round(bare),
                "fastapi_webhooks_per_s": round(fast),
                "ratio_to_bare": round(gw / bare, 3),
                "ratio_to_fastapi": round(gw / fast, 3),
                # the same ratios from CPU per webhook: a capacity that a neighbour's load does not skew
                "cpu_us_per_webhook": {name: round(r["cpu_us"]) for name, r in row.items()},
                "cpu_ratio_to_bare": round(row["bare"]["cpu_us"] / row["gateway"]["cpu_us"], 3),
                "cpu_ratio_to_fastapi": round(row["fastapi"]["cpu_us"] / row["gateway"]["cpu_us"], 3),
                "non2xx": sum(r["non2xx"] for r in row.values()),
                "uptime": {name: r["uptime"] for name, r in row.items()},
            }
            say(
                f"  N={n}: gateway {gw * per_webhook:.0f} events/s, ratio_to_bare {gw / bare:.3f}, "
                f"ratio_to_fastapi {gw / fast:.3f}; by CPU per webhook: "
                f"{results[f'n{n}']['cpu_ratio_to_bare']:.3f} and {results[f'n{n}']['cpu_ratio_to_fastapi']:.3f}"
            )
        print(json.dumps({"connections": args.connections, "seconds": args.seconds, **results}), flush=True)
    finally:
        stop(running)
        stop(procs)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

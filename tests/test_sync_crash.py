"""A `bizosaas temporal-worker` killed with SIGKILL in the middle of a sync: another one resumes the run from its
checkpoint, and every record is imported exactly once (no page's events published twice)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

from conftest import bizosaas_command
from factories import local_http_server, running, wait_for
from gateway_helpers import Gateway
from providers.woocommerce_server import WooCommerceStore
from temporalio.client import Client

from connectors.temporal.shared import SYNC_WORKFLOW, TASK_QUEUE, SyncInput, SyncResult, sync_workflow_id
from consumers.projector import projector_group
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant

ORDERS = 600  # six pages of 100
TIMEOUT_S = 180.0  # a heartbeat timeout (20 s) and the retry, on a machine three times slower


async def test_a_worker_killed_mid_sync_is_resumed_by_another_and_every_record_arrives_once(
    gw: Gateway, redis, pool, admin, migrated, vault, temporal_server, tmp_path
):
    store = WooCommerceStore()
    store.seed(orders=ORDERS)
    store.delay_s = 0.5  # pages take a while: the kill lands in the middle of the run
    async with local_http_server(store.app()) as url:
        store.url = url
        tenant, key = await gw.create_tenant()
        resp = await gw.post(
            "/v1/connectors",
            headers=gw.bearer(key),
            json={
                "provider": "woocommerce",
                "name": "shop",
                "config": {"store_url": url, "currency": "EUR"},
                "secrets": {
                    "consumer_key": store.consumer_key,
                    "consumer_secret": store.consumer_secret,
                    "webhook_secret": "s3cret",
                },
            },
        )
        connector_id = (await resp.json())["id"]  # its connect command is not run here: the test starts the sync
        env = migrated.env(
            TEMPORAL_ADDRESS=temporal_server.url,
            VAULT_ADDR=vault.addr,
            VAULT_TOKEN=vault.token,
            BIZOSAAS_ALLOW_PRIVATE_URLS="true",
            BIZOSAAS_METRICS_PORT="-1",
        )
        first = _temporal_worker(env, tmp_path / "first.log")
        client = await Client.connect(temporal_server.url)
        handle = await client.start_workflow(
            SYNC_WORKFLOW,
            SyncInput(tenant, connector_id, "orders", pending=True),
            id=sync_workflow_id(connector_id, "orders"),
            task_queue=TASK_QUEUE,
            result_type=SyncResult,
        )
        second = None
        try:
            await wait_for(lambda: _pages_asked(store, 3), True, TIMEOUT_S)
            first.send_signal(signal.SIGKILL)  # no drain, no goodbye: mid-page
            first.wait(30)
            killed_at = time.monotonic()
            second = _temporal_worker(env, tmp_path / "second.log")
            result = await _within(handle.result(), TIMEOUT_S)
            resumed_after_s = time.monotonic() - killed_at
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(30)
    assert [(r.status, r.records) for r in result.runs] == [("completed", ORDERS)]
    upserts = await _order_events(redis, tenant)
    assert len(upserts) == ORDERS == len(set(upserts))  # each order once: a re-read page published nothing new
    pages = [r.query["page"] for r in store.requests("orders")]
    assert set(pages) == {str(p) for p in range(1, 7)} and len(pages) <= 6 + 1  # at most the killed page again
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        await wait_for(lambda: _records(admin, tenant), ORDERS, TIMEOUT_S)
    print(f"resumed and finished {resumed_after_s:.1f} s after the kill")


def _temporal_worker(env, log_path) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        return subprocess.Popen([*bizosaas_command(), "temporal-worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def _pages_asked(store: WooCommerceStore, n: int) -> bool:
    return len(store.requests("orders")) >= n


async def _within(awaitable, timeout_s: float):
    return await asyncio.wait_for(awaitable, timeout_s)


async def _order_events(redis, tenant: str) -> list[str]:
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [e.subject.external_id for e in events if e.type == "commerce.order.upserted.v2"]


async def _records(admin, tenant: str) -> int:
    return await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1 AND kind = 'order'", tenant)

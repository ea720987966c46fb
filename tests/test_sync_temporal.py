"""WooCommerce syncs end to end through Temporal: the gateway's commands, the command runner, the connectors'
workflows on the real Temporal dev server, OpenBao, Redis, Postgres and a local WooCommerce."""

from __future__ import annotations

import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import bizosaas_command
from factories import running, served, wait_for
from gateway_helpers import Gateway, connect_store
from providers.woocommerce_server import WooCommerceStore
from temporal_history import history_text
from temporalio.client import WorkflowFailureError

from connectors.temporal.client import LazyTemporal, run_action, start_sync
from connectors.temporal.shared import SYNC_WORKFLOW, TASK_QUEUE, SyncInput, SyncResult, sync_workflow_id
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant

TIMEOUT_S = 90.0  # a workflow's activities, the projector and the command runner in a row, on a slow machine
WEBHOOK_SECRET = "whsec-not-in-history"  # a secret: never in a workflow's history


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


async def records(gw: Gateway, key: str, kind: str = "order", deleted: bool = False) -> list[dict]:
    params = {"limit": "200", **({"include_deleted": "true"} if deleted else {})}
    resp = await gw.get(f"/v1/records/{kind}", params=params, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]


async def commands(gw: Gateway, key: str) -> dict[str, str]:
    items = (await (await gw.get("/v1/commands", headers=gw.bearer(key))).json())["items"]
    return {c["id"]: c["status"] for c in items}


async def sync_now(gw: Gateway, key: str, connector_id: str, **body) -> str:
    resp = await gw.post(f"/v1/connectors/{connector_id}/sync", json=body, headers=gw.bearer(key))
    assert resp.status == 202, await resp.text()
    return (await resp.json())["id"]


async def completed_runs(redis, tenant: str, resource: str = "orders") -> list:
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [e for e in events if e.type == "connector.sync.completed.v1" and e.resource == resource]


async def test_connect_imports_history_then_syncs_changes_and_deletions(gw: Gateway, store, redis, pool, temporal):
    store.seed(orders=130, products=3, customers=2)
    tenant, key = await gw.create_tenant()
    groups = [commands_group(RunnerContext(pool, redis, temporal)), projector_group(pool, DEFAULT_PARTITIONS)]
    async with running(redis, groups):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        # connect: the connection tested, then every resource's history imported (two pages of orders)
        await wait_for(lambda: _count(records(gw, key)), 130, TIMEOUT_S)
        await wait_for(lambda: _count(records(gw, key, "product")), 3, TIMEOUT_S)
        assert set((await commands(gw, key)).values()) == {"completed"}
        one = (await records(gw, key))[0]
        assert one["source"] == connector_id and one["provider"] == "woocommerce"

        # a second sync after changes at the store imports only those
        changed = store.ids("orders")[:2]
        for order_id in changed:
            store.change("orders", order_id, when=datetime.now(UTC) - timedelta(seconds=5), status="completed")
        command = await sync_now(gw, key, connector_id, resources=["orders"])
        await wait_for(lambda: _completed_count(redis, tenant), 2, TIMEOUT_S)
        assert (await commands(gw, key))[command] == "completed"
        second = (await completed_runs(redis, tenant))[-1]
        assert second.records == 3  # the two changed, and the last one again (the checkpoint's second overlaps)
        assert "modified_after" in store.requests("orders")[-1].query
        await wait_for(lambda: _statuses(gw, key, changed), {"completed"}, TIMEOUT_S)

        # a deletion at the store and a full sync: a tombstone
        gone = store.ids("orders")[3]
        store.delete("orders", gone)
        await sync_now(gw, key, connector_id, resources=["orders"], full=True)
        await wait_for(lambda: _completed_count(redis, tenant), 3, TIMEOUT_S)
        assert (await completed_runs(redis, tenant))[-1].deleted == 1

        async def tombstones():
            return [r["external_id"] for r in await records(gw, key, deleted=True) if r["deleted"]]

        assert await wait_for(tombstones, timeout_s=TIMEOUT_S) == [str(gone)]

        # 429 with Retry-After: the next request waits for it
        store.fail_next(1, 429, retry_after_s=2)
        await sync_now(gw, key, connector_id, resources=["orders"])
        await wait_for(lambda: _completed_count(redis, tenant), 4, TIMEOUT_S)
        log = store.requests("orders")
        refused = max(i for i, r in enumerate(log) if r.status == 429)
        assert log[refused + 1].status == 200 and log[refused + 1].at - log[refused].at >= 2.0

    # the workflows' histories hold ids and counts, never a secret
    for workflow_id in (sync_workflow_id(connector_id, "orders"), f"connect:{connector_id}"):
        history = await history_text(temporal, workflow_id)
        assert connector_id in history
        for secret in (store.consumer_key, store.consumer_secret, "whsec-not-in-history"):
            assert secret not in history


async def _count(items) -> int:
    return len(await items)


async def _completed_count(redis, tenant: str) -> int:
    return len(await completed_runs(redis, tenant))


async def _statuses(gw: Gateway, key: str, ids) -> set:
    return {r["data"]["status"] for r in await records(gw, key) if r["external_id"] in {str(i) for i in ids}}


async def test_a_full_sync_failing_half_way_deletes_nothing_and_update_stock_reaches_the_store(
    gw: Gateway, store, redis, pool, temporal
):
    store.seed(orders=150, products=1)
    tenant, key = await gw.create_tenant()
    groups = [commands_group(RunnerContext(pool, redis, temporal)), projector_group(pool, DEFAULT_PARTITIONS)]
    async with running(redis, groups):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        await wait_for(lambda: _count(records(gw, key)), 150, TIMEOUT_S)
        await temporal.get_workflow_handle(sync_workflow_id(connector_id, "orders")).result()  # the import ended
        store.delete("orders", store.ids("orders")[0])
        store.fail_next(50, 503, after=1)  # the first page answers, the second never does
        with pytest.raises(WorkflowFailureError):
            await temporal.execute_workflow(
                SYNC_WORKFLOW,
                SyncInput(tenant, connector_id, "orders", full=True, pending=True, max_attempts=2),
                id=sync_workflow_id(connector_id, "orders"),
                task_queue=TASK_QUEUE,
            )
        assert not [r for r in await records(gw, key, deleted=True) if r["deleted"]]
        store.failures.clear()

        # the update_stock action changes the store's product
        (product_id,) = store.ids("products")
        values, action_id = {"product_id": str(product_id), "stock_quantity": 4}, f"action:{uuid.uuid4()}"
        answer = await run_action(temporal, tenant, connector_id, "update_stock", values, id=action_id)
        assert answer == {"id": product_id, "stock_quantity": 4}  # ids and what was set: all the history keeps
        assert store.objects["products"][product_id]["stock_quantity"] == 4

        # the same workflow's action again (as an activity retried after the store answered, its report to Temporal
        # lost): the answer the first attempt kept, and nothing sent to the store (the merchant's 9 stays)
        store.objects["products"][product_id]["stock_quantity"] = 9
        assert await run_action(temporal, tenant, connector_id, "update_stock", values, id=action_id) == answer
        assert store.objects["products"][product_id]["stock_quantity"] == 9


async def test_sync_now_during_a_run_runs_right_after_it_never_alongside(gw: Gateway, store, redis, pool, temporal):
    store.seed(orders=250)
    tenant, key = await gw.create_tenant()
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)  # its connect command is not run here
        store.delay_s = 0.3  # each page takes a while: the second request arrives during the first run
        workflow_id = await start_sync(temporal, tenant, connector_id, "orders")
        await wait_for(lambda: _requests(store, 1))
        assert await start_sync(temporal, tenant, connector_id, "orders", full=True) == workflow_id
        result = await temporal.get_workflow_handle(workflow_id, result_type=SyncResult).result()
    assert [r.status for r in result.runs] == ["completed", "completed"]  # one workflow, two runs in a row
    assert result.runs[1].records == 250  # the second one full, as asked
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    kinds = [codec.decode_event(f[codec.EVENT_FIELD]).type for _, f in entries]
    lifecycle = [k.split(".")[2] for k in kinds if k.startswith("connector.sync.")]
    assert lifecycle == ["started", "completed", "started", "completed"]


async def test_a_long_sync_continues_as_new_and_resumes_its_run(gw: Gateway, store, redis, pool, temporal):
    store.seed(orders=600)
    tenant, key = await gw.create_tenant()
    connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)  # its connect command is not run here
    handle = await temporal.start_workflow(
        SYNC_WORKFLOW,
        SyncInput(tenant, connector_id, "orders", pending=True, max_history=20),
        id=sync_workflow_id(connector_id, "orders"),
        task_queue=TASK_QUEUE,
        result_type=SyncResult,
    )
    result = await handle.result()  # follows the chain of runs
    assert [(r.status, r.records) for r in result.runs] == [("completed", 600)]
    first = await temporal.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id).fetch_history()
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    # every page was read once: the run resumed where it stopped
    assert sorted(r.query["page"] for r in store.requests("orders")) == sorted(str(p) for p in range(1, 7))


async def _requests(store: WooCommerceStore, n: int) -> bool:
    return len(store.requests("orders")) >= n


async def test_bizosaas_temporal_worker_runs_the_sync_as_a_process(
    gw: Gateway, store, redis, pool, migrated, vault, temporal_server, tmp_path
):
    store.seed(orders=5)
    _, key = await gw.create_tenant()
    env = migrated.env(
        TEMPORAL_ADDRESS=temporal_server.url,
        VAULT_ADDR=vault.addr,
        VAULT_TOKEN=vault.token,
        BIZOSAAS_ALLOW_PRIVATE_URLS="true",
        BIZOSAAS_METRICS_PORT="-1",
    )
    log = tmp_path / "temporal-worker.log"
    worker = start_temporal_worker(env, log)
    try:
        commands = commands_group(RunnerContext(pool, redis, LazyTemporal(temporal_server.url)))
        async with running(redis, [commands, projector_group(pool, DEFAULT_PARTITIONS)]):
            await connect_store(gw, key, store, WEBHOOK_SECRET)
            await wait_for(lambda: _count(records(gw, key)), 5, TIMEOUT_S)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
    assert code == 0, log.read_text()
    assert "temporal worker on" in log.read_text()


def start_temporal_worker(env: dict[str, str], log_path) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        return subprocess.Popen([*bizosaas_command(), "temporal-worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_a_refused_key_fails_the_sync_at_once_with_the_fix(gw: Gateway, store, redis, pool, temporal):
    store.seed(orders=1)
    tenant, key = await gw.create_tenant()
    connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)  # its connect command is not run here
    store.consumer_secret = "cs_rotated_at_the_store"
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal.execute_workflow(
            SYNC_WORKFLOW,
            SyncInput(tenant, connector_id, "orders", pending=True),
            id=sync_workflow_id(connector_id, "orders"),
            task_queue=TASK_QUEUE,
        )
    assert "Read/Write permission" in str(failure.value.cause)
    assert len(store.requests("orders")) == 1  # non-retryable: asked once
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    (failed,) = [
        e
        for e in (codec.decode_event(f[codec.EVENT_FIELD]) for _, f in entries)
        if e.type == "connector.sync.failed.v1" and e.source == connector_id  # the partition is shared
    ]
    assert not failed.retryable and "ProviderRefused" in failed.error

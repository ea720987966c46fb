"""Disconnecting a connector on the real Temporal dev server, OpenBao, Redis, Postgres and a local WooCommerce:
`DELETE /v1/connectors/{id}` keeps the records it imported (marked `source_status: disconnected`), destroys every
secret version, stops a sync in progress and removes the schedule; `?erase=true` erases what came from it and
records the erasure, leaving another connector's records alone."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest
from factories import running, served, wait_for
from gateway_helpers import Gateway, connect_store, disconnect_done
from providers.woocommerce_server import WooCommerceStore
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from connectors.credentials import VaultSecrets
from connectors.temporal.shared import schedule_id, sync_workflow_id
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS, all_event_streams
from producers.erasure import _message

TIMEOUT_S = 90.0
WEBHOOK_SECRET = "whsec-disconnect"


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


def groups(pool, redis, temporal):
    return [commands_group(RunnerContext(pool, redis, temporal)), projector_group(pool, DEFAULT_PARTITIONS)]


async def orders(gw: Gateway, key: str, source: str) -> list[dict]:
    resp = await gw.get("/v1/records/order", params={"source": source, "limit": "100"}, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]


async def count_at_least(gw: Gateway, key: str, source: str, n: int) -> list[dict] | None:
    found = await orders(gw, key, source)
    return found if len(found) >= n else None


async def running_run(gw: Gateway, key: str, connector_id: str) -> dict | None:
    resp = await gw.get(f"/v1/connectors/{connector_id}/syncs", headers=gw.bearer(key))
    return next((r for r in (await resp.json())["items"] if r["status"] == "running"), None)


async def completed_runs(gw: Gateway, key: str, connector_id: str, n: int) -> bool:
    resp = await gw.get(f"/v1/connectors/{connector_id}/syncs", headers=gw.bearer(key))
    return len([r for r in (await resp.json())["items"] if r["status"] == "completed"]) >= n


async def failed_run(gw: Gateway, key: str, connector_id: str, run_id: str) -> dict | None:
    resp = await gw.get(f"/v1/connectors/{connector_id}/syncs", headers=gw.bearer(key))
    return next((r for r in (await resp.json())["items"] if r["run_id"] == run_id and r["status"] == "failed"), None)


async def schedule_gone(temporal, connector_id: str) -> bool:
    try:
        await temporal.get_schedule_handle(schedule_id(connector_id)).describe()
    except RPCError:
        return True
    return False


async def test_disconnect_keeps_the_records_marked_and_stops_everything(
    gw: Gateway, store, redis, pool, temporal, vault
):
    store.seed(orders=5, products=2, customers=2)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal)):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        imported = await wait_for(lambda: count_at_least(gw, key, connector_id, 5), timeout_s=TIMEOUT_S)
        await wait_for(lambda: completed_runs(gw, key, connector_id, 3), timeout_s=TIMEOUT_S)  # the connect's
        assert {r["source_status"] for r in imported} == {"active"}
        # a second secret version, so "every version" means something
        resp = await gw.patch(
            f"/v1/connectors/{connector_id}", json={"secrets": {"webhook_secret": "whsec-2"}}, headers=gw.bearer(key)
        )
        assert resp.status == 200
        # a sync in progress: the store answers every page slowly
        store.delay_s = 15.0
        resp = await gw.post(
            f"/v1/connectors/{connector_id}/sync", json={"resources": ["orders"], "full": True}, headers=gw.bearer(key)
        )
        assert resp.status == 202
        run = await wait_for(lambda: running_run(gw, key, connector_id), timeout_s=TIMEOUT_S)

        resp = await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))
        assert resp.status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, connector_id), timeout_s=TIMEOUT_S)
        assert outcome["status"] == "completed", outcome
        assert "schedule removed" in outcome["reason"] and sync_workflow_id(connector_id, "orders") in outcome["reason"]
        described = await temporal.get_workflow_handle(sync_workflow_id(connector_id, "orders")).describe()
        assert described.status == WorkflowExecutionStatus.TERMINATED
        assert await schedule_gone(temporal, connector_id)
        closed = await wait_for(lambda: failed_run(gw, key, connector_id, run["run_id"]), timeout_s=TIMEOUT_S)
        assert "disconnected" in closed["error"]

    # every secret version is gone
    bao = hvac.Client(url=vault.addr, token=vault.token)
    with pytest.raises(hvac.exceptions.InvalidPath):
        bao.secrets.kv.v2.read_secret_metadata(path=VaultSecrets("", "").path(tenant, connector_id))
    # the connector stays, disconnected; its records stay, marked, in the stable shape plus source_status
    one = await (await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).json()
    assert one["status"] == "disconnected"
    kept = await orders(gw, key, connector_id)
    assert len(kept) == 5 and {r["source_status"] for r in kept} == {"disconnected"}
    assert set(kept[0]) == {
        "id",
        "kind",
        "source",
        "provider",
        "external_id",
        "updated_at",
        "recorded_at",
        "deleted",
        "data",
        "source_status",
    }
    single = await gw.get(f"/v1/records/order/{kept[0]['id']}", headers=gw.bearer(key))
    assert (await single.json())["source_status"] == "disconnected"
    # refused: webhooks to its URL, syncs, changes; a second DELETE does nothing more
    hook = await gw.post(f"/v1/webhooks/{connector_id}", data=b"{}", headers={"Content-Type": "application/json"})
    assert hook.status == 404
    resp = await gw.post(f"/v1/connectors/{connector_id}/sync", json={}, headers=gw.bearer(key))
    assert resp.status == 409
    resp = await gw.patch(f"/v1/connectors/{connector_id}", json={"name": "again"}, headers=gw.bearer(key))
    assert resp.status == 409
    assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204


async def test_disconnect_with_erase_removes_what_came_from_it_and_records_the_erasure(
    gw: Gateway, store, redis, pool, temporal, admin
):
    store.seed(orders=4, customers=1)
    tenant, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal)):
        erased_id = await connect_store(gw, key, store, WEBHOOK_SECRET, "erased")
        other_id = await connect_store(gw, key, store, WEBHOOK_SECRET, "kept")
        await wait_for(lambda: count_at_least(gw, key, erased_id, 4), timeout_s=TIMEOUT_S)
        await wait_for(lambda: count_at_least(gw, key, other_id, 4), timeout_s=TIMEOUT_S)
        assert await admin.fetchval("SELECT count(*) FROM event_log WHERE source = $1", erased_id) >= 4

        resp = await gw.delete(f"/v1/connectors/{erased_id}", params={"erase": "true"}, headers=gw.bearer(key))
        assert resp.status == 204
        outcome = await wait_for(lambda: disconnect_done(gw, key, erased_id), timeout_s=TIMEOUT_S)
        assert outcome["status"] == "completed" and "era_" in outcome["reason"], outcome

    for table, column in (
        ("records", "source"),
        ("event_log", "source"),
        ("rag_chunks", "source"),
        ("sync_runs", "connector_id"),
        ("sync_checkpoints", "connector_id"),
        ("connectors", "id"),
    ):
        assert await admin.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", erased_id) == 0, table
    assert (await gw.get(f"/v1/connectors/{erased_id}", headers=gw.bearer(key))).status == 404
    assert len(await orders(gw, key, other_id)) == 4  # the other connector's records stay
    erasure = await admin.fetchrow(
        "SELECT scope, selector, requested_by, counts FROM erasures WHERE tenant_id = $1", tenant
    )
    assert (erasure["scope"], erasure["selector"]) == ("connector", "connector")
    assert '"records": ' in erasure["counts"] and '"event_log": ' in erasure["counts"]
    # nothing from it is left on the event streams
    for stream in all_event_streams(DEFAULT_PARTITIONS):
        for _, fields in await redis.xrange(stream):
            message = _message(fields.get(b"e")) or {}
            assert message.get("source") != erased_id


async def test_a_set_up_stopped_by_the_disconnect_ends_disconnected_not_connecting(
    gw: Gateway, store, redis, pool, temporal
):
    store.delay_s = 15.0  # the set-up's connection test hangs at the store: it is still `connecting`
    _, key = await gw.create_tenant()

    async def setup_is(connector_id: str, status: str) -> dict | None:
        body = await (await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).json()
        setup = body["health"]["setup"]
        return setup if setup and setup["status"] == status else None

    async with running(redis, groups(pool, redis, temporal)):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        await wait_for(lambda: setup_is(connector_id, "connecting"), timeout_s=TIMEOUT_S)
        assert (await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))).status == 204
        setup = await wait_for(lambda: setup_is(connector_id, "disconnected"), timeout_s=TIMEOUT_S)
    assert setup["step"] is None and setup["reason"] is None
    outcome = await disconnect_done(gw, key, connector_id)
    assert outcome["status"] == "completed" and "connect:" in outcome["reason"], outcome  # the set-up was stopped

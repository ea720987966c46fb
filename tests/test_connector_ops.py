"""Connector operations end to end on the real Temporal dev server, OpenBao, Redis, Postgres and a local WooCommerce:
the sync history and a connector's health, its Temporal Schedule (made on connect, paused, resumed, changed,
removed on disconnect), and actions through the HTTP route."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from factories import running, served, wait_for
from gateway_helpers import Gateway, connect_store
from providers.woocommerce_server import WooCommerceStore
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError

from connectors.config import ConnectorsConfig
from connectors.temporal.shared import schedule_id
from consumers.commands import RunnerContext, commands_group, outcome_of
from consumers.projector import projector_group
from events import codec
from events.commands import RunConnectorAction
from events.streams import DEFAULT_PARTITIONS

TIMEOUT_S = 90.0  # workflows, the projector and the command runner in a row, on a machine three times slower
WEBHOOK_SECRET = "whsec-ops"


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


def groups(pool, redis, temporal, interval_s: int = 3600):
    ctx = RunnerContext(pool, redis, temporal, ConnectorsConfig(sync_interval_s=interval_s))
    return [commands_group(ctx), projector_group(pool, DEFAULT_PARTITIONS)]


async def syncs(gw: Gateway, key: str, connector_id: str, **params) -> dict:
    resp = await gw.get(f"/v1/connectors/{connector_id}/syncs", params=params, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def finished(gw: Gateway, key: str, connector_id: str) -> list[dict]:
    return [r for r in (await syncs(gw, key, connector_id, limit="200"))["items"] if r["status"] != "running"]


async def connector(gw: Gateway, key: str, connector_id: str) -> dict:
    resp = await gw.get(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def command(gw: Gateway, key: str, command_id: str) -> dict:
    return await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json()


async def issue(gw: Gateway, key: str, path: str, body: dict) -> str:
    resp = await gw.post(path, json=body, headers=gw.bearer(key))
    assert resp.status == 202, await resp.text()
    return (await resp.json())["id"]


async def done(gw: Gateway, key: str, command_id: str) -> str | None:
    status = (await command(gw, key, command_id))["status"]
    return status if status in ("completed", "failed", "rejected") else None


async def test_sync_history_counts_failures_and_health(gw: Gateway, store, redis, pool, temporal):
    store.seed(orders=3, products=1, customers=1)
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal)):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        # connect: one full run per resource
        first = await wait_for(lambda: _runs(gw, key, connector_id, 3), timeout_s=TIMEOUT_S)
        orders = next(r for r in first if r["resource"] == "orders")
        assert orders["status"] == "completed" and orders["full"] is True
        assert (orders["records"], orders["added"], orders["updated"], orders["deleted"]) == (3, 3, 0, 0)
        assert orders["run_id"] and orders["started_at"] <= orders["finished_at"]
        assert orders["error"] is None

        # an incremental run after a change at the store: one update, nothing added
        await wait_for(lambda: _order_records(gw, key), 3, TIMEOUT_S)
        store.change("orders", store.ids("orders")[0], when=datetime.now(UTC) - timedelta(seconds=5), status="done")
        await issue(gw, key, f"/v1/connectors/{connector_id}/sync", {"resources": ["orders"]})
        runs = await wait_for(lambda: _runs(gw, key, connector_id, 4), timeout_s=TIMEOUT_S)
        newest = runs[0]  # newest first
        assert (newest["resource"], newest["full"], newest["status"]) == ("orders", False, "completed")
        assert (newest["added"], newest["updated"], newest["deleted"]) == (0, 1, 0)

        health = (await connector(gw, key, connector_id))["health"]
        assert health["last_success_at"] == max(r["finished_at"] for r in runs)
        assert health["last_error"] is None and health["needs_reauth"] is False
        assert health["schedule"] == {"interval_s": 3600, "paused": False}
        assert health["next_run_at"] > datetime.now(UTC).isoformat()

        # a run that fails: its error in the history and as the connector's last error
        store.consumer_secret = "cs_rotated_at_the_store"
        await issue(gw, key, f"/v1/connectors/{connector_id}/sync", {"resources": ["orders"]})
        runs = await wait_for(lambda: _runs(gw, key, connector_id, 5), timeout_s=TIMEOUT_S)
        failed = runs[0]
        assert failed["status"] == "failed" and failed["retryable"] is False
        assert "ProviderRefused" in failed["error"]
        last_error = (await connector(gw, key, connector_id))["health"]["last_error"]
        assert (last_error["run_id"], last_error["resource"]) == (failed["run_id"], "orders")

    # pages: newest first, the cursor continues without repeating
    one = await syncs(gw, key, connector_id, limit="2")
    two = await syncs(gw, key, connector_id, limit="10", cursor=one["next"])
    assert [r["run_id"] for r in one["items"] + two["items"]] == [r["run_id"] for r in runs]
    assert two["next"] is None
    only = await syncs(gw, key, connector_id, resource="products")
    assert [r["resource"] for r in only["items"]] == ["products"]


async def _runs(gw: Gateway, key: str, connector_id: str, n: int) -> list[dict] | None:
    runs = await finished(gw, key, connector_id)
    return runs if len(runs) >= n else None


async def _order_records(gw: Gateway, key: str) -> int:
    resp = await gw.get("/v1/records/order", headers=gw.bearer(key))
    return len((await resp.json())["items"])


INTERVAL_S = 3  # the schedule's interval in this test


async def test_schedule_made_on_connect_runs_pauses_resumes_and_goes_on_disconnect(
    gw: Gateway, store, redis, pool, temporal
):
    store.seed(orders=2)
    _, key = await gw.create_tenant()
    async with running(redis, groups(pool, redis, temporal, interval_s=INTERVAL_S)):
        connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
        handle = temporal.get_schedule_handle(schedule_id(connector_id))
        described = await wait_for(lambda: _describe(handle), timeout_s=TIMEOUT_S)
        assert described.schedule.spec.intervals[0].every == timedelta(seconds=INTERVAL_S)
        # a tick runs an incremental sync of each resource (the connect's runs are full)
        await wait_for(lambda: _incremental(gw, key, connector_id), timeout_s=TIMEOUT_S)

        paused = await issue(gw, key, f"/v1/connectors/{connector_id}/schedule", {"paused": True})
        assert await wait_for(lambda: done(gw, key, paused), timeout_s=TIMEOUT_S) == "completed"
        assert (await handle.describe()).schedule.state.paused
        assert (await connector(gw, key, connector_id))["health"]["next_run_at"] is None
        actions = (await handle.describe()).info.num_actions
        # no tick while paused: meanwhile a twin schedule on the same interval, not paused, ticks four times (at
        # least three intervals; Temporal's scheduler is the clock of both, so a slow machine slows both alike)
        async with _unpaused_twin(temporal) as twin:
            await wait_for(lambda: _more_actions(twin, 3), timeout_s=TIMEOUT_S)
        assert (await handle.describe()).info.num_actions == actions

        resumed = await issue(gw, key, f"/v1/connectors/{connector_id}/schedule", {"paused": False})
        assert await wait_for(lambda: done(gw, key, resumed), timeout_s=TIMEOUT_S) == "completed"
        await wait_for(lambda: _more_actions(handle, actions), timeout_s=TIMEOUT_S)

        hourly = await issue(gw, key, f"/v1/connectors/{connector_id}/schedule", {"interval_s": 3600})
        assert await wait_for(lambda: done(gw, key, hourly), timeout_s=TIMEOUT_S) == "completed"
        assert (await handle.describe()).schedule.spec.intervals[0].every == timedelta(hours=1)
        assert (await connector(gw, key, connector_id))["health"]["schedule"] == {"interval_s": 3600, "paused": False}

        bad = await gw.post(f"/v1/connectors/{connector_id}/schedule", json={"interval_s": 5}, headers=gw.bearer(key))
        assert bad.status == 422 and "interval_s" in await bad.text()

        resp = await gw.delete(f"/v1/connectors/{connector_id}", headers=gw.bearer(key))
        assert resp.status == 204
        await wait_for(lambda: _gone(handle), timeout_s=TIMEOUT_S)


async def _describe(handle):
    try:
        return await handle.describe()
    except RPCError:
        return None


async def _incremental(gw: Gateway, key: str, connector_id: str) -> bool:
    return any(not r["full"] and r["status"] == "completed" for r in await finished(gw, key, connector_id))


@contextlib.asynccontextmanager
async def _unpaused_twin(temporal):
    """A schedule ticking every INTERVAL_S whose workflows no worker runs (each times out after a second)."""
    handle = await temporal.create_schedule(
        f"pause-twin:{uuid.uuid4()}",
        Schedule(
            action=ScheduleActionStartWorkflow(
                "PauseTwin", id="pause-twin", task_queue="pause-twin", execution_timeout=timedelta(seconds=1)
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=INTERVAL_S))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )
    try:
        yield handle
    finally:
        await handle.delete()


async def _more_actions(handle, before: int) -> bool:
    return (await handle.describe()).info.num_actions > before


async def _gone(handle) -> bool:
    return await _describe(handle) is None


async def test_an_action_through_the_route_changes_the_store_and_its_command_shows_the_result(
    gw: Gateway, store, redis, pool, temporal
):
    store.seed(products=1)
    (product_id,) = store.ids("products")
    tenant, key = await gw.create_tenant()
    # its connect command is not run: only the action's
    connector_id = await connect_store(gw, key, store, WEBHOOK_SECRET)
    route = f"/v1/connectors/{connector_id}/actions/update_stock"

    # refused before anything is written or started
    before = (await (await gw.get("/v1/commands", headers=gw.bearer(key))).json())["items"]
    resp = await gw.post(route, json={"product_id": str(product_id), "stock_quantity": -1}, headers=gw.bearer(key))
    assert resp.status == 422
    problem = await resp.json()
    assert "input.stock_quantity" in problem["detail"]
    resp = await gw.post(route, json={"product_id": str(product_id)}, headers=gw.bearer(key))
    assert resp.status == 422 and "stock_quantity" in (await resp.json())["detail"]
    resp = await gw.post(f"/v1/connectors/{connector_id}/actions/sell_everything", json={}, headers=gw.bearer(key))
    assert resp.status == 404 and "update_stock" in (await resp.json())["detail"]
    after = (await (await gw.get("/v1/commands", headers=gw.bearer(key))).json())["items"]
    assert after == before

    ctx = RunnerContext(pool, redis, temporal)
    async with running(redis, [commands_group(ctx)]):
        command_id = await issue(gw, key, route, {"product_id": str(product_id), "stock_quantity": 7})
        assert await wait_for(lambda: done(gw, key, command_id), timeout_s=TIMEOUT_S) == "completed"
    answer = await command(gw, key, command_id)
    assert answer["result"] == {"id": product_id, "stock_quantity": 7}
    assert store.objects["products"][product_id]["stock_quantity"] == 7
    puts = [r for r in store.log if r.method == "PUT"]
    assert len(puts) == 1

    # the same command delivered again starts nothing new and leaves the outcome as it is
    redelivered = RunConnectorAction(
        id=command_id,
        tenant_id=tenant,
        issued_at=datetime.now(UTC),
        connector_id=connector_id,
        action="update_stock",
        input={"product_id": str(product_id), "stock_quantity": 7},
    )
    status, reason = await outcome_of(codec.decode_command(codec.encode(redelivered)), ctx)
    assert (status, "was started before" in reason) == ("running", True)
    assert len([r for r in store.log if r.method == "PUT"]) == 1
    assert (await command(gw, key, command_id))["status"] == "completed"

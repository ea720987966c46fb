"""WooCommerce's REST API against a local WooCommerce (tests/providers/woocommerce_server.py), and connectors/sync.py
on the real Redis, Postgres and OpenBao, without Temporal: pages, errors, incremental runs, idempotent re-runs,
deletions by full reconciliation, and a failed run that deletes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import running, served, wait_for
from providers.woocommerce_server import WooCommerceStore, gmt
from sync_support import deleted_ids, published, record_count, run_and_publish, sync_deps

from connectors import sync
from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.providers.woocommerce import api, mapping
from connectors.registry import get_facts
from consumers.projector import projector_group
from events.streams import DEFAULT_PARTITIONS

TENANT, CONNECTOR = "tenant-sync", "con_woo_sync_1"
FACTS = get_facts("woocommerce")


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


def call_for(store: WooCommerceStore, **secrets: str) -> ApiCall:
    keys = {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret, **secrets}
    return ApiCall(FACTS, {"store_url": store.url, "currency": "EUR"}, keys, allow_private=True)


async def test_pages_windows_and_the_documented_headers(store):
    store.seed(orders=150)
    orders = FACTS.resource("orders")
    first = await api.read_page(call_for(store), orders, 1)
    assert (first.total, first.total_pages, len(first.objects)) == (150, 2, 100)
    assert [o["id"] for o in first.objects] == store.ids("orders")[:100]
    second = await api.read_page(call_for(store), orders, 2)
    assert [o["id"] for o in second.objects] == store.ids("orders")[100:]
    # the window is strict at both ends, by date_modified_gmt (seeded a minute apart from T0)
    since, until = "2026-01-01T00:09:00", "2026-01-01T00:20:00"
    window = await api.read_page(call_for(store), orders, 1, since, until)
    assert [o["date_modified_gmt"] for o in window.objects] == [f"2026-01-01T00:{m}:00" for m in range(10, 20)]
    logged = store.requests("orders")[-1].query
    assert (
        logged["modified_after"] == since and logged["modified_before"] == until and logged["dates_are_gmt"] == "true"
    )
    # customers have no modified_after: the window is not sent
    store.seed(customers=3)
    await api.read_page(call_for(store), FACTS.resource("customers"), 1, since, until)
    assert "modified_after" not in store.requests("customers")[-1].query


async def test_refusals_are_permanent_with_a_fix_and_overload_is_transient(store):
    store.seed(orders=1)
    orders = FACTS.resource("orders")
    with pytest.raises(
        ProviderRefused, match=r"refused the consumer key .*HTTP 401 woocommerce_rest_cannot_view.*Read/Write"
    ):
        await api.read_page(call_for(store, consumer_secret="cs_wrong"), orders, 1)
    wrong_url = ApiCall(FACTS, {"store_url": store.url + "/nope"}, call_for(store).secrets, allow_private=True)
    with pytest.raises(ProviderRefused, match="check the store URL"):
        await api.read_page(wrong_url, orders, 1)
    store.fail_next(1, 429, retry_after_s=7)
    with pytest.raises(ProviderBusy) as busy:
        await api.read_page(call_for(store), orders, 1)
    assert busy.value.retry_after_s == 7
    store.fail_next(1, 503)
    with pytest.raises(ProviderBusy, match="HTTP 503"):
        await api.read_page(call_for(store), orders, 1)
    assert len((await api.read_page(call_for(store), orders, 1)).objects) == 1
    # a private address is refused unless allowed (the default in production)
    with pytest.raises(Exception, match="not a public address"):
        await api.read_page(ApiCall(FACTS, {"store_url": store.url}, call_for(store).secrets), orders, 1)


async def test_update_stock_changes_the_product_at_the_store(store):
    store.seed(products=1)
    (product_id,) = store.ids("products")
    answered = await api.update_stock(call_for(store), str(product_id), 3)
    assert answered["stock_quantity"] == 3 and store.objects["products"][product_id]["stock_quantity"] == 3
    with pytest.raises(ProviderRefused, match="not found"):
        await api.update_stock(call_for(store), "999999", 1)


# --- connectors/sync.py ----------------------------------------------------------------------------------------


@pytest.fixture
async def deps(pool, redis, vault, admin, store):
    config = {"store_url": store.url, "currency": "EUR"}
    return await sync_deps(pool, redis, vault, admin, target(), "woocommerce", config, call_for(store).secrets)


def target(resource: str = "orders") -> sync.Target:
    return sync.Target(TENANT, CONNECTOR, resource)


async def records(admin, kind: str = "order") -> dict[str, dict]:
    rows = await admin.fetch(
        "SELECT external_id, deleted, status FROM records WHERE tenant_id = $1 AND kind = $2", TENANT, kind
    )
    return {r["external_id"]: dict(r) for r in rows}


async def test_a_sync_imports_history_then_only_changes(deps, store, redis, pool, admin):
    store.seed(orders=150)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        first = await sync.run(deps, target(), "run-1")
        assert (first.records, first.deleted, first.cursor) == (150, 0, "2026-01-01T02:29:00")
        events = await published(redis, TENANT)
        assert (events[0].type, events[-1].type) == ("connector.sync.started.v1", "connector.sync.completed.v1")
        orders = [e for e in events if e.type == "commerce.order.upserted.v2"]
        assert len(orders) == 150 and all(e.raw_ref is None and e.source == CONNECTOR for e in orders)
        assert events[-1].records == 150
        await wait_for(lambda: record_count(admin, TENANT, "order"), 150)

        # the same order through the webhook mapping: identical entity
        assert orders[0].data == mapping.order(store.objects["orders"][store.ids("orders")[0]])

        # a re-run of everything publishes nothing new but the run's own events
        _, run_events = await run_and_publish(redis, deps, target(), "run-2", full=True)
        assert len(run_events) == 2

        # changes at the store: the next (incremental) run reads after the checkpoint and publishes only those
        changed = store.ids("orders")[:2]
        later = datetime.now(UTC) - timedelta(seconds=5)
        for i, order_id in enumerate(changed):
            store.change("orders", order_id, when=later + timedelta(seconds=i), status="completed")
        third, fresh = await run_and_publish(redis, deps, target(), "run-3")
        assert third.records == 3  # the changed two, and the last one again (the checkpoint's second overlaps)
        query = store.requests("orders")[-1].query
        assert query["modified_after"] == "2026-01-01T02:28:59" and query["modified_before"] <= gmt(datetime.now(UTC))
        assert sorted(e.subject.external_id for e in fresh if e.type == "commerce.order.upserted.v2") == [
            str(i) for i in changed
        ]
        await wait_for(lambda: _statuses(admin, changed), {"completed"})


async def _statuses(admin, ids) -> set:
    rows = await admin.fetch(
        "SELECT status FROM records WHERE tenant_id = $1 AND kind = 'order' AND external_id = ANY($2)",
        TENANT,
        [str(i) for i in ids],
    )
    return {r["status"] for r in rows}


async def test_a_full_sync_turns_what_the_store_deleted_into_tombstones_and_a_failed_one_deletes_nothing(
    deps, store, redis, pool, admin
):
    store.seed(orders=120, customers=2)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        await sync.run(deps, target(), "run-1")
        await sync.run(deps, target("customers"), "run-c1")
        await wait_for(lambda: record_count(admin, TENANT, "order"), 120)
        gone = store.ids("orders")[5]
        store.delete("orders", gone)

        # a full run failing half-way (503 on every page after the first): nothing is deleted, the cursor stays
        store.fail_next(10, 503, after=1)
        cursor = await admin.fetchval(
            "SELECT cursor FROM sync_checkpoints WHERE connector_id = $1 AND resource = 'orders'", CONNECTOR
        )
        with pytest.raises(ProviderBusy):
            await sync.run(deps, target(), "run-2", full=True, max_wait_s=0.01)
        failed = [e for e in await published(redis, TENANT) if e.type == "connector.sync.failed.v1"]
        assert len(failed) == 1 and failed[0].retryable and "503" in failed[0].error
        row = await admin.fetchrow(
            "SELECT * FROM sync_checkpoints WHERE connector_id = $1 AND resource = 'orders'", CONNECTOR
        )
        assert (row["run_id"], row["cursor"], row["last_status"]) == (None, cursor, "failed")
        assert not [e for e in await published(redis, TENANT) if e.type == "commerce.order.deleted.v2"]
        assert await admin.fetchval("SELECT count(*) FROM sync_seen") == 0

        # an incremental run does not reconcile; a full one that finishes does
        store.failures.clear()
        assert (await sync.run(deps, target(), "run-3")).deleted == 0
        finished = await sync.run(deps, target(), "run-4", full=True)
        assert finished.deleted == 1
        await wait_for(lambda: deleted_ids(admin, TENANT, "order"), [str(gone)])
        # guest buyers' contacts (made from orders) are not customers the customers list would show
        assert (await sync.run(deps, target("customers"), "run-c2", full=True)).deleted == 0


async def test_pages_that_shift_under_a_run_are_read_again(deps, store, redis):
    store.seed(orders=150)
    run_id = await sync.begin(deps, target(), "run-1", full=True)
    first = await sync.step(deps, target(), run_id)
    assert (first.done, first.page) == (False, 1)
    store.delete("orders", store.ids("orders")[0])  # every later object moves one place forward
    restarted = await sync.step(deps, target(), run_id)
    assert (restarted.done, restarted.page) == (False, 0)
    pages = [await sync.step(deps, target(), run_id) for _ in range(2)]
    assert [p.page for p in pages] == [1, 2] and pages[-1].done


async def test_an_object_changed_during_a_full_run_is_not_taken_for_deleted(deps, store, redis, pool, admin):
    store.seed(orders=150)
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        await sync.run(deps, target(), "run-1")
        await wait_for(lambda: record_count(admin, TENANT, "order"), 150)
        run_id = await sync.begin(deps, target(), "run-2", full=True)
        assert "modified_before" not in (await _step_query(deps, store, run_id))  # a full run has no window
        store.change("orders", store.ids("orders")[120], status="on-hold")  # on the page still to read
        store.change("orders", store.ids("orders")[3], status="on-hold")  # on the page read
        assert (await sync.step(deps, target(), run_id)).done
        assert (await sync.finish(deps, target(), run_id)).deleted == 0
        # an incremental run has its window, fixed at its start
        run_id = await sync.begin(deps, target(), "run-3")
        assert (await sync.step(deps, target(), run_id)).page == 1
        assert "modified_before" in store.requests("orders")[-1].query


async def _step_query(deps, store, run_id) -> dict:
    await sync.step(deps, target(), run_id)
    return store.requests("orders")[-1].query


async def test_a_changed_customer_is_published_again(deps, store, redis):
    """Customers are listed whole every run (no `modified_after`): a customer changed at the store publishes again,
    the unchanged ones do not (their idempotency keys name the state)."""
    store.seed(customers=3)
    await sync.run(deps, target("customers"), "run-1")
    changed = store.ids("customers")[0]
    store.change("customers", changed, email="new-address@example.com")
    await sync.run(deps, target("customers"), "run-2")
    contacts = [e for e in await published(redis, TENANT) if e.type == "crm.contact.upserted.v1"]
    assert len(contacts) == 4  # three, then only the changed one
    assert contacts[-1].subject.external_id == str(changed) and contacts[-1].data.email == "new-address@example.com"

"""connectors/sync.py's steps of many pages and connectors/sync_checkpoints.py, on the real Redis, Postgres and
OpenBao against the local WooCommerce, without Temporal: a step reads pages until its time is spent, each
checkpointed; a disconnect stops it at the next page; a stale position saves nothing; and the deletion detection's
query stays linear when the tables' statistics are stale (as right after a first import)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from factories import served, wait_for
from providers.woocommerce_server import WooCommerceStore

from connectors import sync
from connectors import sync_checkpoints as checkpoints
from connectors.credentials import VaultSecrets
from db.pool import tenant_transaction
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant
from producers.publisher import Publisher

TENANT, CONNECTOR = "tenant-steps", "con_woo_steps_1"
TARGET = sync.Target(TENANT, CONNECTOR, "orders")


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


@pytest.fixture
async def deps(pool, redis, vault, admin, store):
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", TENANT)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'woocommerce', 'shop', $3)",
        TENANT,
        CONNECTOR,
        json.dumps({"store_url": store.url, "currency": "EUR"}),
    )
    secrets = VaultSecrets(vault.addr, vault.token)
    await secrets.write(
        TENANT, CONNECTOR, {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret}
    )
    return sync.SyncDeps(pool, Publisher(redis), secrets, allow_private=True, step_s=600.0)


async def order_upserts(redis) -> list[str]:
    entries = await redis.xrange(stream_for_tenant(TENANT, DEFAULT_PARTITIONS))
    events = [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]
    return [e.subject.external_id for e in events if e.type == "commerce.order.upserted.v2"]


async def checkpoint(admin) -> dict:
    row = await admin.fetchrow(
        "SELECT run_pages, run_records FROM sync_checkpoints WHERE tenant_id = $1 AND resource = 'orders'", TENANT
    )
    return dict(row)


async def test_a_step_reads_pages_until_the_listing_ends_each_checkpointed(deps, store, redis, admin):
    store.seed(orders=350)
    run_id = await sync.begin(deps, TARGET, "run-1", full=True)
    step = await sync.step(deps, TARGET, run_id)  # 600 s to spend: the whole listing in one step
    assert (step.done, step.page, step.total_pages, step.records) == (True, 4, 4, 350)
    assert [r.query["page"] for r in store.requests("orders")] == ["1", "2", "3", "4"]
    assert await checkpoint(admin) == {"run_pages": 4, "run_records": 350}
    assert await admin.fetchval("SELECT count(*) FROM sync_seen WHERE tenant_id = $1", TENANT) == 350
    upserts = await order_upserts(redis)
    assert len(upserts) == 350 == len(set(upserts))
    assert (await sync.finish(deps, TARGET, run_id)).records == 350


async def test_a_step_with_no_time_reads_one_page(deps, store):
    store.seed(orders=250)
    one_page = sync.SyncDeps(deps.pool, deps.publisher, deps.secrets, allow_private=True)
    run_id = await sync.begin(one_page, TARGET, "run-1", full=True)
    pages = [await sync.step(one_page, TARGET, run_id) for _ in range(3)]
    assert [(p.page, p.done) for p in pages] == [(1, False), (2, False), (3, True)]


async def test_a_disconnect_stops_a_step_at_its_next_page(deps, store, redis, admin):
    store.seed(orders=500)
    store.delay_s = 0.3  # pages take a while: the disconnect lands in the middle of the step
    run_id = await sync.begin(deps, TARGET, "run-1", full=True)
    stepping = asyncio.create_task(sync.step(deps, TARGET, run_id))
    await wait_for(lambda: _checkpointed(admin, 1), True)
    await admin.execute("UPDATE connectors SET status = 'disconnected' WHERE id = $1", CONNECTOR)
    with pytest.raises(sync.ConnectorGone, match="is disconnected"):
        await stepping
    saved = (await checkpoint(admin))["run_pages"]
    assert 1 <= saved < 5  # the step stopped before the listing's end
    assert len(await order_upserts(redis)) == 100 * saved  # no page published after the one it refused


async def _checkpointed(admin, pages: int) -> bool:
    row = await admin.fetchrow("SELECT run_pages FROM sync_checkpoints WHERE tenant_id = $1", TENANT)
    return row is not None and row["run_pages"] >= pages


async def test_a_position_read_before_another_worker_moved_the_run_saves_nothing(deps, store, pool, admin):
    store.seed(orders=250)
    run_id = await sync.begin(deps, TARGET, "run-1", full=True)
    stale = await checkpoints.run_state(pool, TARGET, run_id)
    one_page = sync.SyncDeps(deps.pool, deps.publisher, deps.secrets, allow_private=True)
    await sync.step(one_page, TARGET, run_id)  # another worker saves page 1
    page = checkpoints.PageDone(1, 250, None, 100, None, 0, 0, seen=["x1", "x2"])
    async with tenant_transaction(pool, TENANT) as conn:
        assert not await checkpoints.save_page(conn, TARGET, stale, page)
    assert await checkpoint(admin) == {"run_pages": 1, "run_records": 100}  # not counted twice
    assert not await admin.fetchval("SELECT count(*) FROM sync_seen WHERE external_id LIKE 'x%'")
    current = await checkpoints.run_state(pool, TARGET, run_id)
    async with tenant_transaction(pool, TENANT) as conn:
        assert await checkpoints.save_page(conn, TARGET, current, page)
    assert await admin.fetchval("SELECT count(*) FROM sync_seen WHERE external_id LIKE 'x%'") == 2


async def test_the_unseen_records_query_stays_linear_with_stale_statistics(admin, pool):
    """Statistics taken while the tables were empty (a new install's first full import): the old NOT EXISTS query
    was planned as a nested loop comparing each record with each seen id."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", TENANT)
    await admin.execute("ANALYZE records, sync_seen")  # empty: the planner now expects a row or so in each
    await admin.execute(
        """INSERT INTO records (tenant_id, kind, source, external_id, id, updated_at, recorded_at, data, event_id,
                                stream_ms, stream_seq)
           SELECT $1, 'order', $2, i::text, 'rec_' || i, now() - interval '1 day', now(), '{}', 'evt_' || i, i, 0
           FROM generate_series(1, 3000) AS i""",
        TENANT,
        CONNECTOR,
    )
    await admin.execute(
        """INSERT INTO sync_seen (tenant_id, connector_id, resource, run_id, external_id)
           SELECT $1, $2, 'orders', 'run-1', i::text FROM generate_series(1, 3000) AS i WHERE i NOT IN (7, 2000)""",
        TENANT,
        CONNECTOR,
    )
    async with tenant_transaction(pool, TENANT) as conn:
        now = datetime.now(UTC)
        assert await checkpoints.unseen_records(conn, "order", TARGET, "run-1", now) == ["2000", "7"]
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN " + checkpoints.UNSEEN_RECORDS, "order", CONNECTOR, "orders", "run-1", now
            )
        )
    assert "Nested Loop" not in plan, plan

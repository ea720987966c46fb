import asyncpg
import msgspec
import pytest
from factories import T0, order, running, wait_for

from consumers.metrics import metrics_group
from consumers.projector import PROJECT_EVENTS_SQL, RECORD_COLUMNS, projector_group
from consumers.rebuild import rebuild_records
from db.archive import EventArchive
from db.pool import create_pool
from events import codec
from events.ids import new_id
from events.legacy import OrderLineV1, OrderUpsertedV1, OrderV1
from events.ranges import RangeFilter
from events.streams import replay_stream, stream_for_tenant
from events.types import Subject, SyncStarted
from producers.publisher import Publisher
from producers.replay import replay

BUSINESS_COLUMNS = (
    "tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, "
    "updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq"
)


async def count(admin, sql, *args):
    return await admin.fetchval(sql, *args)


async def test_out_of_order_versions_leave_the_newer_state(redis, pool, admin):
    v1, v2 = order("t1", "55", version=1, total_minor=100), order("t1", "55", version=2, total_minor=200)
    publisher = Publisher(redis)
    async with running(redis, [projector_group(pool, 8)]):
        await publisher.publish([v2])  # the newer version arrives first ...
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 1)
        await publisher.publish([v1])  # ... then the older one, in a later batch
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 2)
    row = await admin.fetchrow("SELECT status, amount_minor, event_id FROM records")
    assert (row["status"], row["amount_minor"], row["event_id"]) == ("v2", 200, v2.id)


async def test_two_versions_in_one_batch_and_a_tombstone(redis, pool, admin):
    events = [
        order("t1", "9", version=3),
        order("t1", "9", version=1),
        order("t1", "10", version=1),
        order("t1", "10", version=2, deleted=True),
        order("t1", "10", version=1),
    ]
    await Publisher(redis).publish(events)
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 5)
    rows = {r["external_id"]: r for r in await admin.fetch("SELECT * FROM records")}
    assert rows["9"]["status"] == "v3" and not rows["9"]["deleted"]
    assert rows["10"]["deleted"] and rows["10"]["event_id"] == events[3].id


async def test_a_v1_event_in_the_log_is_read_as_v2(redis, pool, admin):
    old = OrderUpsertedV1(
        id="01JOLDEVENT0000000000000V1",
        tenant_id="t1",
        source="woo-1",
        provider="woocommerce",
        subject=Subject(kind="order", external_id="727"),
        occurred_at=T0,
        recorded_at=T0,
        data=OrderV1(
            number="727", currency="USD", total="29.35", line_items=[OrderLineV1(sku="W-1", quantity=2, price="10.50")]
        ),
    )
    await redis.xadd(stream_for_tenant("t1"), {codec.EVENT_FIELD: codec.encode(old)})  # as an old release wrote it
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 1)
    record = await admin.fetchrow("SELECT amount_minor, currency, data FROM records")
    data = msgspec.json.decode(record["data"])
    assert record["amount_minor"] == 2935 and record["currency"] == "USD"
    assert data["line_items"] == [{"sku": "W-1", "quantity": 2, "unit_price_minor": 1050, "total_minor": 2100}]
    stored = await admin.fetchrow("SELECT type, body FROM event_log")
    assert stored["type"] == "commerce.order.upserted.v2"  # found under the name readers know it by ...
    assert msgspec.json.decode(stored["body"])["type"] == "commerce.order.upserted.v1"  # ... its bytes stay v1


async def test_replay_reaches_one_group_only_and_never_regresses(redis, pool, admin):
    events = [order("t1", str(i), version=1) for i in range(20)] + [order("t1", "0", version=5)]
    await Publisher(redis).publish(events)
    groups = [projector_group(pool, 8), metrics_group(pool, 8)]
    async with running(redis, groups):
        await wait_for(lambda: count(admin, "SELECT coalesce(sum(events), 0) FROM usage_counts"), 21)
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 21)
        await admin.execute("UPDATE records SET title = 'damaged' WHERE external_id <> '0'")
        await admin.execute("DELETE FROM records WHERE external_id = '1'")
        queued = await replay(redis, "projector", RangeFilter(), 8)
        assert queued == 21
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records WHERE title = 'damaged'"), 0)
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 20)
    assert await redis.xlen(replay_stream("metrics")) == 0
    assert await count(admin, "SELECT sum(events) FROM usage_counts") == 21  # metrics saw nothing again
    assert await count(admin, "SELECT status FROM records WHERE external_id = '0'") == "v5"  # not regressed to v1


async def test_rebuild_equals_the_incremental_state(redis, pool, admin, migrated):
    events = []
    for i in range(300):
        tenant = f"t{i % 4}"
        events.append(order(tenant, str(i % 90), version=(i * 7) % 11, total_minor=i, deleted=i % 13 == 0))
    await Publisher(redis).publish(events)
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 300)
    order_by = "tenant_id, kind, source, external_id"
    incremental = await admin.fetch(f"SELECT {BUSINESS_COLUMNS} FROM records ORDER BY {order_by}")
    result = await rebuild_records(migrated.admin_url, page=37)
    rebuilt = await admin.fetch(f"SELECT {BUSINESS_COLUMNS} FROM records ORDER BY {order_by}")
    assert result.events == 300 and result.records == len(incremental) == 180  # (i % 4, i % 90) pairs
    assert [tuple(r) for r in rebuilt] == [tuple(r) for r in incremental]


async def test_replay_past_redis_retention_comes_from_event_log(redis, pool, admin, migrated):
    events = [order("t1", str(i), version=1) for i in range(30)]
    await Publisher(redis).publish(events)
    stream = stream_for_tenant("t1")
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 30)
        await wait_for(lambda: _all_acked(redis, stream))
    await redis.xtrim(stream, maxlen=0)  # as if retention had passed: Redis keeps nothing of them
    assert await redis.xlen(stream) == 0
    admin_pool = await create_pool(migrated.admin_url, max_size=2)
    try:
        queued = await replay(redis, "projector", RangeFilter(tenant="t1"), 8, archive=EventArchive(admin_pool))
    finally:
        await admin_pool.close()
    assert queued == 30
    replayed = [codec.decode_entry(f).id for _, f in await redis.xrange(replay_stream("projector"))]
    assert replayed == [e.id for e in events]


async def _all_acked(redis, stream):
    return all(g["pending"] == 0 and g["lag"] == 0 for g in await redis.xinfo_groups(stream))


async def test_a_nul_character_from_a_provider_does_not_poison_the_projection(redis, pool, admin):
    await Publisher(redis).publish([order("t1", "nul", customer_email="a\x00b@example.com")])
    async with running(redis, [projector_group(pool, 8)]):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 1)
    data = msgspec.json.decode(await admin.fetchval("SELECT data FROM records"))
    assert data["customer_email"] == "a\ufffdb@example.com"
    body = msgspec.json.decode(await admin.fetchval("SELECT body FROM event_log"))
    assert body["data"]["customer_email"] == "a\x00b@example.com"  # the archive keeps exactly what was published
    assert await redis.xlen("bz:dead:{projector}") == 0


async def test_one_call_projects_a_batch_of_many_tenants_each_under_its_own_tenant(redis, pool, admin):
    """The projector's batch is one project_events call (migration 0039) that switches the tenant per slice: rows
    of interleaved tenants, some with no state to write, and a lifecycle event land under their own tenants."""
    started = SyncStarted(
        id=new_id(),
        tenant_id="t2",
        source="woo-1",
        provider="woocommerce",
        subject=Subject(kind="sync", external_id="orders"),
        occurred_at=T0,
        recorded_at=T0,
        resource="orders",
        run_id="run-1",
    )
    events = [order("t3", "1"), order("t1", "1"), started, order("t3", "2"), order("t1", "1", version=2)]
    await Publisher(redis, partitions=1).publish(events)  # one partition, published before the group starts:
    async with running(redis, [projector_group(pool, 1)]):  # all of them in one batch
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 5)
    rows = await admin.fetch("SELECT tenant_id, external_id, status FROM records ORDER BY 1, 2")
    assert [tuple(r) for r in rows] == [("t1", "1", "v2"), ("t3", "1", "v1"), ("t3", "2", "v1")]
    assert await count(admin, "SELECT tenant_id FROM sync_runs WHERE run_id = 'run-1'") == "t2"
    archived = await admin.fetch("SELECT tenant_id, count(*) FROM event_log GROUP BY 1 ORDER BY 1")
    assert [tuple(r) for r in archived] == [("t1", 2), ("t2", 1), ("t3", 2)]


async def test_project_events_refuses_a_row_of_a_tenant_it_does_not_name(pool, admin):
    """Row-level security still decides: the function's role is admitted only for the tenants the call names, so a
    row of t2 in a call naming t1 (or naming nobody) is refused, and the service role cannot become that role."""
    event = order("t2", "1")
    log_row = (*[[v] for v in (event.tenant_id, event.id, event.type, event.source, "order", "1")],)
    log_row += ([T0], [T0], ["s"], [1], [0], ["{}"])
    empty_records = [[] for _ in range(len(RECORD_COLUMNS) + 1)]
    async with pool.acquire() as conn:
        for named in (["t1"], []):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(PROJECT_EVENTS_SQL, *log_row, *empty_records, named)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE bizosaas_projector")
        assert await conn.fetchval("SELECT current_setting('app.batch_tenants', true)") in (None, "")
        await conn.execute(PROJECT_EVENTS_SQL, *log_row, *empty_records, ["t2"])
    assert await count(admin, "SELECT tenant_id FROM event_log") == "t2"

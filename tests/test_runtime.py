"""The consumer runtime against real Redis and Postgres: poison entries, decode failures, dead letters, redrive."""

import asyncio

from factories import FAST, order, running, wait_for
from prometheus_client import REGISTRY

from consumers.deadletter import list_dead, redrive
from consumers.metrics import metrics_group
from consumers.projector import projector_group
from consumers.runtime import RuntimeConfig
from db.migrate import dsn_parts
from events import codec
from events.streams import dead_stream, stream_for_tenant
from producers.publisher import Publisher


async def count(admin, sql):
    return await admin.fetchval(sql)


async def test_a_poison_event_is_dead_lettered_while_the_rest_flows_and_redrive_applies_it(redis, pool, admin):
    # the handler fails on this one event until an operator fixes the cause (here: a constraint that rejects it)
    await admin.execute("ALTER TABLE records ADD CONSTRAINT no_poison CHECK (title IS DISTINCT FROM 'POISON')")
    try:
        events = [order("t1", str(i)) for i in range(50)]
        events.insert(20, order("t1", "POISON"))
        await Publisher(redis).publish(events)
        async with running(redis, [projector_group(pool, 8)], FAST):
            await wait_for(lambda: redis.xlen(dead_stream("projector")), 1)
            assert await count(admin, "SELECT count(*) FROM records") == 50  # everything around it committed
            await Publisher(redis).publish([order("t1", "after")])  # and the stream keeps flowing
            await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 51)
            [dead] = await list_dead(redis, "projector")
            assert dead.deliveries == FAST.max_deliveries
            assert "no_poison" in dead.error and "CheckViolation" in dead.error
            assert codec.decode_entry(dead.fields).id == events[20].id  # copied whole
            assert dead.stream == stream_for_tenant("t1")
            # acknowledged on its stream: it counts as handled in dead letters (the "after" event's ack follows its
            # commit, which the count above can see first)
            await wait_for(lambda: _pending(redis, stream_for_tenant("t1")), 0)

            await admin.execute("ALTER TABLE records DROP CONSTRAINT no_poison")  # the fix
            assert await redrive(redis, "projector") == 1
            await wait_for(lambda: count(admin, "SELECT count(*) FROM records WHERE title = 'POISON'"), 1)
        assert await redis.xlen(dead_stream("projector")) == 0
    finally:
        await admin.execute("ALTER TABLE records DROP CONSTRAINT IF EXISTS no_poison")


async def test_malformed_and_unknown_version_entries_go_to_dead_letters_and_the_consumer_keeps_running(
    redis,
    pool,
    admin,
):
    stream = stream_for_tenant("t1")
    good = order("t1", "1")
    unknown = codec.encode(order("t1", "2")).replace(b"upserted.v2", b"upserted.v7")
    await redis.xadd(stream, {codec.EVENT_FIELD: b'{"type": "commerce.order.upserted.v2", "id": "x1", trunc'})
    await redis.xadd(stream, {codec.EVENT_FIELD: unknown})
    await redis.xadd(stream, {b"something": b"else"})
    await Publisher(redis).publish([good])
    async with running(redis, [projector_group(pool, 8)], FAST):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 1)
        await wait_for(lambda: redis.xlen(dead_stream("projector")), 3)
        await Publisher(redis).publish([order("t1", "3")])
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 2)
    errors = [d.error for d in await list_dead(redis, "projector")]
    assert "JSON is malformed" in errors[0]
    assert "commerce.order.upserted.v7" in errors[1] and "$.type" in errors[1]
    assert "no 'e' field" in errors[2]
    assert all(d.deliveries == 1 for d in await list_dead(redis, "projector"))


async def test_a_dead_consumers_pending_entries_are_reclaimed(redis, pool, admin):
    events = [order("t1", str(i)) for i in range(30)]
    await Publisher(redis).publish(events)
    stream = stream_for_tenant("t1")
    await redis.xgroup_create(stream, "projector", id="0", mkstream=True)
    # a consumer that read the entries and died before acknowledging them
    await redis.xreadgroup("projector", "crashed-consumer", {stream: ">"}, count=30)
    config = RuntimeConfig(**{**FAST.__dict__, "reclaim_idle_ms": 200})
    async with running(redis, [projector_group(pool, 8)], config):
        await wait_for(lambda: count(admin, "SELECT count(*) FROM records"), 30)
        await wait_for(lambda: _pending(redis, stream), 0)
    assert await redis.xlen(dead_stream("projector")) == 0


async def test_stop_drains_in_flight_work(redis, pool, admin):
    publisher = Publisher(redis)
    async with running(redis, [projector_group(pool, 8)], FAST) as runtime:
        for i in range(20):
            await publisher.publish([order(f"t{j}", f"{i}-{j}") for j in range(50)])
            await asyncio.sleep(0.01)
        runtime.stop()
    for stream in {stream_for_tenant(f"t{j}") for j in range(50)}:
        assert await _pending(redis, stream) == 0  # whatever it took, it committed and acknowledged


async def _pending(redis, stream):
    return (await redis.xpending(stream, "projector"))["pending"]


async def test_database_connections_dying_mid_stream_cost_nothing(redis, pool, admin, migrated):
    """An infrastructure error is retried after a back-off: never dead-lettered, never lost, never doubled."""
    role = dsn_parts(migrated.service_url).user
    publisher = Publisher(redis)
    before = _infra_errors()
    killed = 0
    config = RuntimeConfig(**{**FAST.__dict__, "backoff_max_s": 0.3})
    async with running(redis, [projector_group(pool, 8), metrics_group(pool, 8)], config):
        for round_ in range(10):
            await publisher.publish([order(f"t{j}", f"{round_}-{j}") for j in range(60)])
            await asyncio.sleep(0.02)
            killed += await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1", role
            )
        await wait_for(lambda: count(admin, "SELECT count(*) FROM event_log"), 600)
        await wait_for(lambda: count(admin, "SELECT coalesce(sum(events), 0) FROM usage_counts"), 600)
    assert killed > 0 and _infra_errors() > before  # the faults happened and were taken as infrastructure errors
    assert await count(admin, "SELECT count(*) FROM records") == 600
    assert await count(admin, "SELECT count(*) FROM group_inbox") == 600
    assert await redis.xlen(dead_stream("projector")) == 0 and await redis.xlen(dead_stream("metrics")) == 0


def _infra_errors() -> float:
    return sum(
        REGISTRY.get_sample_value("bizosaas_consumer_infra_errors_total", {"group": g}) or 0
        for g in ("projector", "metrics")
    )


async def test_chunks_of_several_partitions_commit_as_one_batch_and_are_acked_on_each(redis):
    from consumers.group import Group
    from events.streams import all_event_streams

    batches: list[list] = []

    async def handle(batch):  # a group of the test's own: the runtime under test is the real one
        await asyncio.sleep(0.05)  # a slow transaction, while the other partitions' readers keep reading
        batches.append(batch.entries)

    events = [order(f"tenant-{i}", str(i)) for i in range(400)]
    await Publisher(redis).publish(events)
    group = Group("probe", all_event_streams(8), prepare=handle)
    async with running(redis, [group], RuntimeConfig(**{**FAST.__dict__, "max_inflight_batches": 1})):
        await wait_for(lambda: _handled(batches), 400)
        for stream in all_event_streams(8):
            await wait_for(lambda stream=stream: _pending_of(redis, stream, "probe"), 0)
    assert max(len({d.stream for d in batch}) for batch in batches) > 1
    assert sorted(d.message.id for batch in batches for d in batch) == sorted(e.id for e in events)


async def _handled(batches):
    return sum(map(len, batches))


async def _pending_of(redis, stream, group):
    return (await redis.xpending(stream, group))["pending"]


async def test_a_batch_slower_than_the_reclaim_idle_time_is_handled_once_and_never_dead_lettered(redis):
    from consumers.group import Group
    from events.streams import all_event_streams

    handled: list[str] = []

    async def handle(batch):  # slower than reclaim_idle_ms: without heartbeats the reclaimer would take it over
        await asyncio.sleep(1.0)
        handled.extend(e.message.id for e in batch.entries)

    events = [order(f"tenant-{i}", str(i)) for i in range(60)]
    await Publisher(redis).publish(events)
    config = RuntimeConfig(
        **{**FAST.__dict__, "reclaim_idle_ms": 200, "max_deliveries": 2, "batch_size": 20, "max_inflight_batches": 1}
    )
    async with running(redis, [Group("slow", all_event_streams(8), prepare=handle)], config):
        await wait_for(lambda: _count(handled), 60, timeout_s=60)
        await asyncio.sleep(0.5)
    assert sorted(handled) == sorted(e.id for e in events)  # each exactly once
    assert await redis.xlen(dead_stream("slow")) == 0


async def _count(items):
    return len(items)


async def test_a_batch_is_bounded_in_bytes_as_well_as_entries(redis):
    from consumers.group import Group
    from events.streams import all_event_streams

    batches: list[list] = []

    async def handle(batch):
        batches.append(batch.entries)

    events = [order("tenant-1", str(i), customer_email="x" * 2000) for i in range(60)]  # one partition: one read of 60
    events.insert(30, order("tenant-1", "huge", customer_email="y" * 50_000))  # past the bound: a batch of its own
    await Publisher(redis).publish(events)
    size = len(codec.encode(events[0]))
    config = RuntimeConfig(**{**FAST.__dict__, "batch_max_bytes": 5 * size})
    async with running(redis, [Group("bytes", all_event_streams(8), prepare=handle)], config):
        await wait_for(lambda: _handled(batches), len(events))
    assert sorted(d.message.id for batch in batches for d in batch) == sorted(e.id for e in events)
    for batch in batches:
        assert len(batch) == 1 or sum(len(d.raw) for d in batch) <= 5 * size, [len(d.raw) for d in batch]
    assert max(map(len, batches)) > 1  # still batched
    assert [len(b) for b in batches if any(d.message.subject.external_id == "huge" for d in b)] == [1]


async def test_a_groups_max_batch_bounds_its_batches_below_the_runtimes(redis, pool):
    """A fan-out group (outbound: a row per subscription per event) takes a few events per transaction, so that its
    first rows commit early, however many entries the runtime reads for the other groups."""
    from consumers.group import Group
    from consumers.outbound import MAX_BATCH_EVENTS, outbound_group
    from events.streams import all_event_streams

    batches: list[int] = []

    async def handle(batch):
        batches.append(len(batch.entries))

    events = [order("tenant-1", str(i)) for i in range(120)]  # one tenant: one partition, read 500 at a time
    await Publisher(redis).publish(events)
    async with running(redis, [Group("fanout", all_event_streams(8), prepare=handle, max_batch=25)], FAST):
        await wait_for(lambda: _count_all(batches), len(events))
    assert max(batches) == 25 and sum(batches) == len(events)
    assert outbound_group(pool, 8, 1.0).max_batch == MAX_BATCH_EVENTS <= 50


async def _count_all(sizes):
    return sum(sizes)


async def _pending(redis, stream):
    return (await redis.xpending(stream, "projector"))["pending"]

from factories import T0, order

from events import codec
from events.commands import StartSync
from events.ids import new_id
from events.streams import COMMANDS_STREAM, stream_for_tenant
from producers.publisher import Publisher


async def test_batch_lands_on_each_tenants_partition_in_order(redis):
    events = [order(f"tenant-{i % 5}", str(i)) for i in range(40)]
    published = await Publisher(redis).publish(events)
    assert [p.event_id for p in published] == [e.id for e in events]
    for tenant in {e.tenant_id for e in events}:
        stream = stream_for_tenant(tenant)
        on_stream = [codec.decode_entry(f) for _, f in await redis.xrange(stream)]
        mine = [e.id for e in on_stream if e.tenant_id == tenant]
        assert mine == [e.id for e in events if e.tenant_id == tenant]


async def test_duplicate_publish_with_the_same_key_yields_one_event(redis):
    publisher = Publisher(redis)
    first = order("t1", "100")
    retry = order("t1", "100")  # the provider's retry: same delivery, a new envelope
    [a] = await publisher.publish([first], ["woo-1:delivery-9:0"])
    [b, c] = await publisher.publish([retry, order("t1", "101")], ["woo-1:delivery-9:0", "woo-1:delivery-9:1"])
    assert not a.duplicate and a.entry_id
    assert b.duplicate and b.entry_id is None and b.event_id == first.id
    assert not c.duplicate
    entries = await redis.xrange(stream_for_tenant("t1"))
    assert [codec.decode_entry(f).id for _, f in entries] == [first.id, c.event_id]


async def test_the_dedupe_window_expires(redis):
    publisher = Publisher(redis, dedupe_window_s=1)
    await publisher.publish([order("t1", "1")], ["k"])
    [again] = await publisher.publish([order("t1", "1")], ["k"])
    assert again.duplicate
    ttl = await redis.ttl(f"bz:idem:{{{stream_for_tenant('t1').split('{')[1].rstrip('}')}}}:k")
    assert 0 < ttl <= 1


async def test_commands_go_to_the_command_stream(redis):
    cmd = StartSync(id=new_id(), tenant_id="t1", issued_at=T0, connector_id="c1")
    publisher = Publisher(redis)
    await publisher.publish_command(cmd, idempotency_key="req-1")
    again = await publisher.publish_command(cmd, idempotency_key="req-1")
    assert again.duplicate
    [(_, fields)] = await redis.xrange(COMMANDS_STREAM)
    assert codec.decode_command(fields[codec.EVENT_FIELD]) == cmd


async def test_publishing_survives_a_flushed_script_cache_and_writes_extra_entries(redis):
    publisher = Publisher(redis)
    await redis.script_flush()  # as after a Redis restart: the publish-once script is unknown to the server
    events = [order("t1", "1"), order("t1", "2"), order("t2", "3")]
    published = await publisher.publish(events, ["k1", None, "k3"], with_entries=[("bz:deliveries", {b"r": b"1"})])
    assert [p.duplicate for p in published] == [False, False, False]
    stored = [
        codec.decode_entry(f).id
        for s in {stream_for_tenant("t1"), stream_for_tenant("t2")}
        for _, f in await redis.xrange(s)
    ]
    assert sorted(stored) == sorted(e.id for e in events)  # each exactly once, the unkeyed one not repeated
    assert await redis.xlen("bz:deliveries") == 1
    [again] = await publisher.publish([order("t1", "1")], ["k1"])
    assert again.duplicate

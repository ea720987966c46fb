import asyncio
from datetime import UTC, datetime

from consumers.projector import projector_group
from consumers.runtime import Runtime, RuntimeConfig
from events.ids import new_id
from events.types import Order, OrderUpserted, Subject
from producers.publisher import Publisher


async def test_publish_and_project(redis, pool, admin):
    now = datetime.now(UTC)
    events = [
        OrderUpserted(
            id=new_id(),
            tenant_id=f"t{i % 3}",
            source="woo1",
            provider="woocommerce",
            subject=Subject(kind="order", external_id=str(i)),
            occurred_at=now,
            recorded_at=now,
            data=Order(number=str(i), total_minor=100 * i, currency="USD"),
        )
        for i in range(50)
    ]
    await Publisher(redis).publish(events)
    runtime = Runtime(redis, [projector_group(pool, 8)], RuntimeConfig(block_ms=100))
    task = asyncio.create_task(runtime.run())
    for _ in range(100):
        if await admin.fetchval("SELECT count(*) FROM records") == 50:
            break
        await asyncio.sleep(0.05)
    runtime.stop()
    await task
    assert await admin.fetchval("SELECT count(*) FROM event_log") == 50
    assert await admin.fetchval("SELECT sum(amount_minor) FROM records") == sum(100 * i for i in range(50))

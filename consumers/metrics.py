"""The metrics group: Prometheus counters by event type and provider, and exact per-tenant usage in Postgres.

Usage is counted once per event (its inbox row commits with the count), replays included: a replay repairs
state, it is not new usage. Prometheus counters are at-least-once and carry no tenant label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import asyncpg

from consumers import metrics
from consumers.base import Group
from consumers.delivery import Delivery
from consumers.inbox import first_seen
from consumers.projector import by_tenant
from db.pool import set_tenant
from events.streams import all_event_streams

GROUP = "metrics"

USAGE_SQL = """
INSERT INTO usage_counts AS u (tenant_id, day, event_type, provider, events)
SELECT current_setting('app.tenant_id'), d, t, p, n
FROM unnest($1::date[], $2::text[], $3::text[], $4::int8[]) AS x(d, t, p, n)
ON CONFLICT (tenant_id, day, event_type, provider) DO UPDATE SET events = u.events + excluded.events
"""


async def count_usage(conn: asyncpg.Connection, group: str, deliveries: Sequence[Delivery]) -> None:
    fresh = await first_seen(conn, group, [d.message.id for d in deliveries])
    tally = Counter(
        (d.message.occurred_at.date(), d.message.type, d.message.provider) for d in deliveries if d.message.id in fresh
    )
    if tally:
        rows = sorted((day, type_, provider, n) for (day, type_, provider), n in tally.items())
        await conn.execute(USAGE_SQL, *map(list, zip(*rows)))


def metrics_group(pool: asyncpg.Pool, partitions: int) -> Group:
    async def handle(batch: list[Delivery]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for tenant, deliveries in sorted(by_tenant(batch).items()):
                await set_tenant(conn, tenant)
                await count_usage(conn, GROUP, deliveries)
        for delivery in batch:  # after the commit: a crash before this line only loses a scrape-level count
            metrics.EVENTS.labels(delivery.message.type, delivery.message.provider).inc()

    return Group(GROUP, all_event_streams(partitions), handle)

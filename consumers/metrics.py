"""The metrics group: Prometheus counters by event type and provider, and exact per-tenant usage in Postgres.

Usage is counted once per event (its inbox row commits with the count), replays included: a replay repairs
state, it is not new usage. Prometheus counters are at-least-once and carry no tenant label.
(The stream runtime's own Prometheus metrics are in consumers/runtime_metrics.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter as PrometheusCounter

from consumers.entry import Entry
from consumers.group import Batch, Group
from events.streams import all_event_streams

GROUP = "metrics"

EVENTS = PrometheusCounter(
    "bizosaas_events_total", "Events seen by the metrics group, by type and provider", ["type", "provider"]
)

USAGE_SQL = """
INSERT INTO usage_counts AS u (tenant_id, day, event_type, provider, events)
SELECT current_setting('app.tenant_id'), d, t, p, n
FROM unnest($1::date[], $2::text[], $3::text[], $4::int8[]) AS x(d, t, p, n)
ON CONFLICT (tenant_id, day, event_type, provider) DO UPDATE SET events = u.events + excluded.events
"""


async def count_usage(conn: asyncpg.Connection, tenant: str, entries: Sequence[Entry], batch: Batch) -> None:
    """One tenant's events seen for the first time (the group's inbox keeps the others away) into usage_counts."""
    tally = Counter((e.message.occurred_at.date(), e.message.type, e.message.provider) for e in entries)
    rows = sorted((day, type_, provider, n) for (day, type_, provider), n in tally.items())
    await conn.execute(USAGE_SQL, *map(list, zip(*rows)))


async def count_events(batch: Batch) -> None:
    """After the commit: a crash before this only loses a scrape-level count."""
    for entry in batch.entries:
        EVENTS.labels(entry.message.type, entry.message.provider).inc()


def metrics_group(pool: asyncpg.Pool, partitions: int) -> Group:
    return Group(
        GROUP,
        all_event_streams(partitions),
        count_usage,
        pool,
        inbox=lambda event: event.id,
        after_commit=count_events,
    )

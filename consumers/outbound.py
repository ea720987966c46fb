"""The `outbound` group: every event a tenant's enabled webhook subscriptions match becomes one queued attempt per
subscription (`hook_attempts`, status pending), written in the batch's transaction, idempotent per subscription x
event id. Nothing here speaks HTTP: a slow endpoint must never hold a stream handler, so the dispatcher
(consumers/outbound_dispatch.py) delivers the attempts and retries them.

The payload (events/outbound.py) is Standard Webhooks' recommended shape, `{"type", "timestamp", "data"}`: the
event's type, the time it occurred, and the event as published (current version). It is stored as sent, so every
retry signs the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter

from connectors.lru import MISSING, ExpiringLru
from consumers.entry import Entry
from consumers.group import Batch, Group
from events.ids import new_id
from events.outbound import PUBLISHED, matches_any, payload
from events.streams import all_event_streams
from events.types import Event

GROUP = "outbound"
# events per batch: each becomes a row per matching subscription, so 500 events to 100 subscriptions would be 50,000
# rows in one transaction (about a second of Postgres) that the dispatcher sees none of until it commits; 25 keeps a
# transaction to a few thousand rows and lets the dispatcher start on the first ones (docs/benchmarks.md, outbound)
MAX_BATCH_EVENTS = 25
ATTEMPT_ID_PREFIX = "att_"  # then a sortable id (events/ids.py): the attempt log's order and its retention's cutoff

QUEUED = Counter("bizosaas_outbound_attempts_queued_total", "Outbound webhook attempts queued by the outbound group")

# The enabled subscriptions named are read once per statement (MATERIALIZED), not looked up once per row: a batch is
# a row per event x subscription, and the per-row lookup under row-level security was a third of the insert's cost.
# Each event's id, type and body travel once ($4-$6) and each attempt names its event by position ($3): sent per
# attempt, a body crossed the wire and was parsed once per subscription (100 times for 100 subscriptions).
INSERT_ATTEMPTS = """
WITH s AS MATERIALIZED (  -- deleted or disabled since the cache was filled: no rows for it
    SELECT id FROM hook_subscriptions WHERE enabled AND id = ANY($7::text[])
), e AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS e(event_id, event_type, body, n)
)
INSERT INTO hook_attempts (tenant_id, id, hook_id, event_id, event_type, body)
SELECT current_setting('app.tenant_id'), x.id, x.hook_id, e.event_id, e.event_type, e.body
FROM unnest($1::text[], $2::text[], $3::int8[]) AS x(id, hook_id, n)
JOIN e USING (n)
JOIN s ON s.id = x.hook_id
ON CONFLICT (tenant_id, hook_id, event_id) DO NOTHING
"""


def insert_arguments(events: Sequence[tuple[str, str, str, Sequence[str]]], hook_ids: list[str]) -> tuple:
    """INSERT_ATTEMPTS' parameters for events given as (id, type, body, the subscriptions it goes to)."""
    ids, hooks, positions = [], [], []
    for n, (_, _, _, wanted) in enumerate(events, start=1):
        for hook_id in wanted:
            ids.append(ATTEMPT_ID_PREFIX + new_id())
            hooks.append(hook_id)
            positions.append(n)
    event_ids, types, bodies, _ = zip(*events) if events else ((), (), (), ())
    return ids, hooks, positions, list(event_ids), list(types), list(bodies), hook_ids


class Subscriptions:
    """Each tenant's enabled subscriptions (id, patterns), kept briefly: a group's batches would otherwise read them
    once per batch per tenant. A new or changed subscription is seen within `ttl_s`."""

    def __init__(self, ttl_s: float, max_tenants: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self._cache: ExpiringLru[list[tuple[str, list[str]]]] = ExpiringLru(max_tenants)

    async def of(self, conn: asyncpg.Connection, tenant: str) -> list[tuple[str, list[str]]]:
        cached = self._cache.get(tenant)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        rows = await conn.fetch("SELECT id, event_types FROM hook_subscriptions WHERE enabled ORDER BY id")
        found = [(r["id"], list(r["event_types"])) for r in rows]
        self._cache.put(tenant, found, self.ttl_s)
        return found


def outbound_group(pool: asyncpg.Pool, partitions: int, cache_s: float) -> Group:
    subscriptions = Subscriptions(cache_s)

    async def queue_attempts(conn: asyncpg.Connection, tenant: str, entries: Sequence[Entry], batch: Batch) -> int:
        hooks = await subscriptions.of(conn, tenant)
        if not hooks:
            return 0
        events = []
        for entry in entries:
            event: Event = entry.message
            wanted = [hook_id for hook_id, patterns in hooks if matches_any(patterns, event.type)]
            if wanted:
                events.append((event.id, event.type, payload(event).decode(), wanted))
        if not events:
            return 0
        arguments = insert_arguments(events, [hook_id for hook_id, _ in hooks])
        await conn.execute(INSERT_ATTEMPTS, *arguments)
        return len(arguments[0])

    async def count(batch: Batch) -> None:
        QUEUED.inc(sum(batch.results.values()))

    return Group(
        GROUP,
        all_event_streams(partitions),
        queue_attempts,
        pool,
        types=PUBLISHED,
        after_commit=count,
        max_batch=MAX_BATCH_EVENTS,
    )

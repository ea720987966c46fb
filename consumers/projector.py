"""The projector group: archive every event in `event_log` and keep the current state of every entity in `records`.

One transaction per batch, switching the row-level-security tenant before each tenant's statements. Archiving is
also the group's record of what it processed: an event already in `event_log` is skipped unless it was replayed.
An older state never overwrites a newer one: (provider time, stream position) only grows per entity; a delete is a
tombstone under the same rule. Rebuilding from `event_log` applies the same rule, so it ends in the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import asyncpg
import msgspec

from consumers.delivery import Delivery
from consumers.runtime import Group
from db.pool import set_tenant
from events.ids import opaque_id
from events.streams import all_event_streams
from events.types import EntityDeleted, EntityUpserted, Event

GROUP = "projector"

# which field of an entity is its title in lists (the typed column the portal sorts and searches on)
TITLE_FIELD = {
    "order": "number", "invoice": "number", "product": "name", "company": "name", "lead": "name",
    "post": "title", "page": "title", "task": "title", "subscription": "plan", "contact": "email",
    "message": "text", "comment": "content",
}
AMOUNT_FIELDS = ("total_minor", "price_minor", "amount_minor")

ARCHIVE_SQL = """
INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at,
                       stream, stream_ms, stream_seq, body)
SELECT t, i, ty, so, sk, si, oc, rc, st, ms, sq, b::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::timestamptz[], $9::text[], $10::int8[], $11::int8[], $12::text[])
     AS e(t, i, ty, so, sk, si, oc, rc, st, ms, sq, b)
ON CONFLICT DO NOTHING
RETURNING id
"""

UPSERT_SQL = """
INSERT INTO records AS r (tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency,
                          updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq)
SELECT t, k, so, x, i, p, st, ti, am, cu, up, rc, de, d::jsonb, ev, ms, sq
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::int8[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bool[], $14::text[], $15::text[],
            $16::int8[], $17::int8[])
     AS n(t, k, so, x, i, p, st, ti, am, cu, up, rc, de, d, ev, ms, sq)
ON CONFLICT (tenant_id, kind, source, external_id) DO UPDATE SET
    provider = excluded.provider, status = excluded.status, title = excluded.title,
    amount_minor = excluded.amount_minor, currency = excluded.currency, updated_at = excluded.updated_at,
    recorded_at = excluded.recorded_at, deleted = excluded.deleted, data = excluded.data,
    event_id = excluded.event_id, stream_ms = excluded.stream_ms, stream_seq = excluded.stream_seq
WHERE (excluded.updated_at, excluded.stream_ms, excluded.stream_seq) >= (r.updated_at, r.stream_ms, r.stream_seq)
"""

_encode = msgspec.json.Encoder().encode


def record_key(event: Event) -> tuple[str, str, str, str]:
    return event.tenant_id, event.subject.kind, event.source, event.subject.external_id


def _title(kind: str, data: msgspec.Struct | None) -> str | None:
    if data is None:
        return None
    value = getattr(data, TITLE_FIELD.get(kind, "name"), None)
    if kind == "contact" and not value:
        value = f"{getattr(data, 'first_name', '')} {getattr(data, 'last_name', '')}".strip()
    return str(value)[:200] if value else None


def _amount(data: msgspec.Struct | None) -> int | None:
    for name in AMOUNT_FIELDS:
        if (value := getattr(data, name, None)) is not None:
            return value
    return None


def record_row(event: EntityUpserted | EntityDeleted, position: tuple[int, int]) -> tuple:
    tenant, kind, source, external_id = record_key(event)
    data = event.data
    return (
        tenant, kind, source, external_id, opaque_id("rec", tenant, kind, source, external_id), event.provider,
        getattr(data, "status", None) or None, _title(kind, data), _amount(data), getattr(data, "currency", None),
        event.occurred_at, event.recorded_at, isinstance(event, EntityDeleted),
        _encode(data).decode() if data is not None else "{}", event.id, position[0], position[1],
    )


def latest_states(items: Iterable[tuple[Event, tuple[int, int]]]) -> list[tuple]:
    """Per entity, the row of the newest state among these events (provider time, then stream position)."""
    newest: dict[tuple, tuple[Event, tuple[int, int]]] = {}
    for event, position in items:
        if not isinstance(event, (EntityUpserted, EntityDeleted)):
            continue
        key = record_key(event)
        held = newest.get(key)
        if held is None or (event.occurred_at, position) > (held[0].occurred_at, held[1]):
            newest[key] = (event, position)
    # sorted by key so that concurrent transactions lock rows in one order (no deadlocks)
    return [record_row(newest[key][0], newest[key][1]) for key in sorted(newest)]


async def upsert_records(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    if rows:
        await conn.execute(UPSERT_SQL, *map(list, zip(*rows)))


async def archive(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> set[str]:
    """Insert into event_log; returns the ids that were not archived before."""
    columns = zip(*(
        (e.tenant_id, e.id, e.type, e.source, e.subject.kind, e.subject.external_id, e.occurred_at, e.recorded_at,
         d.origin_stream, d.position[0], d.position[1], d.raw.decode())
        for d in deliveries for e in (d.message,)
    ))
    return {r["id"] for r in await conn.fetch(ARCHIVE_SQL, *map(list, columns))}


def by_tenant(batch: Iterable[Delivery]) -> dict[str, list[Delivery]]:
    grouped: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in batch:
        grouped[delivery.message.tenant_id].append(delivery)
    return grouped


def projector_group(pool: asyncpg.Pool, partitions: int) -> Group:
    async def handle(batch: list[Delivery]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for tenant, deliveries in sorted(by_tenant(batch).items()):
                await set_tenant(conn, tenant)
                fresh = await archive(conn, deliveries)
                todo = [(d.message, d.position) for d in deliveries if d.replayed or d.message.id in fresh]
                await upsert_records(conn, latest_states(todo))

    return Group(GROUP, all_event_streams(partitions), handle)

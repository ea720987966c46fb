"""The deliveries group: persists the gateway's webhook delivery records (`bz:deliveries`) into `deliveries`.

One row per (connector, provider delivery id); each HTTP receipt counts once (its receipt id goes into
group_inbox in the same transaction), so a redelivered stream entry does not count a resend twice. A later receipt
that was published replaces an earlier `unmapped` outcome (the normalizer was fixed and the provider resent).
Each entry of `bz:deliveries` (a consumers.entry.Entry) carries one such receipt (a DeliveryRecord).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from consumers.entry import Entry
from consumers.group import Batch, Group
from events.deliveries import DeliveryRecord, decode_record
from events.streams import DELIVERIES_STREAM

GROUP = "deliveries"

UPSERT_SQL = """
INSERT INTO deliveries AS d (tenant_id, id, connector_id, provider, delivery_id, topic, content_type, headers, body,
                             received_at, last_received_at, receipts, outcome, error, event_ids)
SELECT current_setting('app.tenant_id'), i, c, p, di, t, ct, h::jsonb, b, r, lr, n, o, e, ev::text[]
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[],
            $9::timestamptz[], $10::timestamptz[], $11::int[], $12::text[], $13::text[], $14::text[])
     AS x(i, c, p, di, t, ct, h, b, r, lr, n, o, e, ev)
ON CONFLICT (tenant_id, id) DO UPDATE SET
    receipts = d.receipts + excluded.receipts,
    last_received_at = greatest(d.last_received_at, excluded.last_received_at),
    outcome = CASE WHEN d.outcome = 'unmapped' AND excluded.outcome = 'published' THEN 'published' ELSE d.outcome END,
    error = CASE WHEN d.outcome = 'unmapped' AND excluded.outcome = 'published' THEN NULL ELSE d.error END,
    event_ids = CASE WHEN d.outcome = 'unmapped' AND excluded.outcome = 'published' THEN excluded.event_ids
                     ELSE d.event_ids END,
    updated_at = now()
"""

_json = msgspec.json.Encoder()


def merged_rows(records: Sequence[DeliveryRecord]) -> list[tuple]:
    """One row per delivery id: receipts counted, the earliest receipt's body, a published outcome preferred."""
    by_id: dict[str, list[DeliveryRecord]] = {}
    for record in records:
        by_id.setdefault(record.id, []).append(record)
    rows = []
    for row_id in sorted(by_id):  # one lock order for concurrent transactions
        group = sorted(by_id[row_id], key=lambda r: r.received_at)
        first, best = group[0], next((r for r in group if r.outcome == "published"), group[0])
        rows.append(
            (
                row_id,
                first.connector_id,
                first.provider,
                first.delivery_id,
                first.topic,
                first.content_type,
                _json.encode(first.headers).decode(),
                first.body,
                first.received_at,
                group[-1].received_at,
                len(group),
                best.outcome,
                best.error,
                "{" + ",".join(f'"{e}"' for e in best.event_ids) + "}",
            )
        )
    return rows


async def persist(conn: asyncpg.Connection, tenant: str, entries: Sequence[Entry], batch: Batch) -> None:
    """One tenant's receipts seen for the first time (the group's inbox, by receipt id, keeps the others away)."""
    rows = merged_rows([e.message for e in entries])
    if rows:
        await conn.execute(UPSERT_SQL, *map(list, zip(*rows)))


def deliveries_group(pool: asyncpg.Pool) -> Group:
    return Group(
        GROUP, [DELIVERIES_STREAM], persist, pool, inbox=lambda record: record.receipt_id, decode=decode_record
    )

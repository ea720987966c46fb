"""The deliveries group: persists the gateway's webhook delivery records (`bz:deliveries`) into `deliveries`.

One row per (connector, provider delivery id); each HTTP receipt counts once (its receipt id goes into
group_inbox in the same transaction), so a redelivered stream entry does not count a resend twice. A later receipt
that was published replaces an earlier `unmapped` outcome (the normalizer was fixed and the provider resent).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from consumers.base import Group
from consumers.delivery import Delivery
from consumers.inbox import first_seen
from db.pool import set_tenant
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


async def persist(conn: asyncpg.Connection, records: Sequence[DeliveryRecord]) -> None:
    """Within one tenant's transaction (row-level security set)."""
    fresh = await first_seen(conn, GROUP, [r.receipt_id for r in records])
    rows = merged_rows([r for r in records if r.receipt_id in fresh])
    if rows:
        await conn.execute(UPSERT_SQL, *map(list, zip(*rows)))


def deliveries_group(pool: asyncpg.Pool) -> Group:
    async def handle(batch: list[Delivery]) -> None:
        by_tenant: dict[str, list[DeliveryRecord]] = {}
        for delivery in batch:
            by_tenant.setdefault(delivery.message.tenant_id, []).append(delivery.message)
        async with pool.acquire() as conn, conn.transaction():
            for tenant, records in sorted(by_tenant.items()):
                await set_tenant(conn, tenant)
                await persist(conn, records)

    return Group(GROUP, [DELIVERIES_STREAM], handle, decode=decode_record)

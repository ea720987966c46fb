"""A group's record of what it processed: `group_inbox`, written in the same transaction as the group's effect."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

INBOX_SQL = """
INSERT INTO group_inbox (tenant_id, group_name, event_id)
SELECT current_setting('app.tenant_id'), $1, unnest($2::text[])
ON CONFLICT DO NOTHING
RETURNING event_id
"""


async def first_seen(conn: asyncpg.Connection, group: str, ids: Sequence[str]) -> set[str]:
    """Record `ids` as processed by `group` for the transaction's tenant; returns those not recorded before."""
    return {r["event_id"] for r in await conn.fetch(INBOX_SQL, group, list(ids))}

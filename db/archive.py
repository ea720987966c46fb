"""Reading the event archive (`event_log`) across tenants, for operators: replay past Redis retention, rebuilds.

Runs on a connection that reads across tenants: the owner's (DATABASE_ADMIN_URL) in operator commands, the read-only
archive role (BIZOSAAS_DATABASE_READONLY_URL, SELECT on event_log only) in the gateway. These are platform operations
that span tenants by definition, never reachable with a tenant's credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from events.codec import CURRENT_TYPE
from events.ranges import RangeFilter

# a RangeFilter (events.ranges): start, end, tenant, types
RANGE_SQL = """
SELECT body, stream_ms, stream_seq FROM event_log
WHERE stream = $1 AND (stream_ms, stream_seq) >= ($2, $3) AND (stream_ms, stream_seq) <= ($4, $5)
  AND (stream_ms, stream_seq) < ($6, $7)
  AND ($8::text IS NULL OR tenant_id = $8) AND (cardinality($9::text[]) = 0 OR type = ANY($9))
ORDER BY stream_ms, stream_seq
"""


class EventArchive:
    def __init__(self, pool: asyncpg.Pool, page: int = 2000) -> None:
        self.pool, self.page = pool, page

    async def read(
        self, stream: str, flt: RangeFilter, before: tuple[int, int]
    ) -> AsyncIterator[tuple[bytes, tuple[int, int]]]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = conn.cursor(
                RANGE_SQL,
                stream,
                *flt.start,
                *_clamp(flt.end),
                *_clamp(before),
                flt.tenant,
                current_types(flt.types),
                prefetch=self.page,
            )
            async for row in cursor:
                yield row["body"].encode(), (row["stream_ms"], row["stream_seq"])


def current_types(types) -> list[str]:
    """`event_log.type` holds the name readers see today: a filter naming an old version matches its successor."""
    return sorted({CURRENT_TYPE.get(t, t) for t in types})


def _clamp(position: tuple[int, int]) -> tuple[int, int]:
    # bigint bounds: an open end is written as the largest position Postgres can hold
    return tuple(min(p, 2**63 - 1) for p in position)  # type: ignore[return-value]

"""The event archive for operator replays that reach past Redis retention.

`event_log` spans tenants, so it is read with a role of its own (BIZOSAAS_DATABASE_READONLY_URL): `bizosaas migrate`
gives it SELECT on `event_log` and nothing else, and it can write nothing. The gateway opens that pool lazily, on the
first operator replay, and uses it for nothing else: tenant requests always run on the service role under row-level
security, and the gateway holds no owner DSN.
"""

from __future__ import annotations

import asyncio

import asyncpg

from db.archive import EventArchive
from db.pool import create_pool


class ArchiveReader:
    def __init__(self, readonly_dsn: str) -> None:
        self.readonly_dsn = readonly_dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def reader(self) -> EventArchive | None:
        """The archive reader, or None without a read-only URL (replay then covers what Redis still holds)."""
        if not self.readonly_dsn:
            return None
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(self.readonly_dsn, min_size=0, max_size=2)
        return EventArchive(self._pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

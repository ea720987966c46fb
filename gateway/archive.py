"""The event archive for operator replays that reach past Redis retention.

`event_log` spans tenants, so it is read with the owner's connection (DATABASE_ADMIN_URL), as `bizosaas replay`
does. The gateway opens that pool lazily, on the first operator replay, and uses it for nothing else: tenant
requests always run on the service role under row-level security.
"""

from __future__ import annotations

import asyncio

import asyncpg

from db.archive import EventArchive
from db.pool import create_pool


class OwnerArchive:
    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def reader(self) -> EventArchive | None:
        """The archive reader, or None without an owner URL (replay then covers what Redis still holds)."""
        if not self.admin_dsn:
            return None
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(self.admin_dsn, min_size=0, max_size=2)
        return EventArchive(self._pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

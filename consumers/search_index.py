"""Merging record search's pending entries into its trigram index, in the background.

GIN takes new entries into a pending list and merges it into the index inside whichever statement finds the list
past its limit: without this, that is a projector batch, stalled for tens to hundreds of milliseconds (migration
0046). Here a connection of its own merges the list every `interval_s`, so the projector's statements only append.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from events.errors import is_transient

log = logging.getLogger("bizosaas.search_index")


async def clean_pending(pool: asyncpg.Pool) -> int:
    """Merge the pending list now; returns the pending-list pages merged."""
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT clean_record_search_pending()")


async def clean_pending_forever(pool: asyncpg.Pool, interval_s: float, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await clean_pending(pool)
        except Exception as exc:  # noqa: BLE001 - the next pass tries again; the projector only waits longer meanwhile
            level = logging.WARNING if is_transient(exc) else logging.ERROR
            log.log(level, "merging record search's pending entries failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):  # the interval passed without a stop
            await asyncio.wait_for(stopping.wait(), interval_s)

"""Replay: re-deliver a filtered range of the event log to one consumer group through its replay stream.

Entries still in Redis are copied from the partition streams; older ones (trimmed away) come from the Postgres
archive, through an `Archive` the caller provides (db.archive.EventArchive), so replay reaches past retention.
Each copy carries its origin stream and entry id, so the group's ordering rule still sees the original position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from redis.asyncio import Redis

from events import codec
from events.ranges import RangeFilter
from events.streams import (
    ORIGIN_ID_FIELD,
    ORIGIN_STREAM_FIELD,
    all_event_streams,
    as_text,
    format_id,
    parse_id,
    replay_stream,
)
from producers.inspect import scan_range

ProgressFn = Callable[[int], None]


class UnknownGroup(ValueError):
    """No consumer group of that name reads the event streams: a replay to it would only fill a stream nobody reads."""

    def __init__(self, group: str, known: list[str]) -> None:
        super().__init__(
            f"no consumer group {group!r} reads the event streams; known groups: "
            f"{', '.join(known) or 'none (start a worker first)'}"
        )
        self.group, self.known = group, known


async def known_groups(redis: Redis, partitions: int) -> list[str]:
    """The groups that exist on the event streams (each worker creates its groups there when it starts)."""
    names: set[str] = set()
    for stream in all_event_streams(partitions):
        if await redis.exists(stream):
            names.update(as_text(info["name"]) for info in await redis.xinfo_groups(stream))
    return sorted(names)


class Archive(Protocol):
    def read(
        self,
        stream: str,
        flt: RangeFilter,
        before: tuple[int, int],
    ) -> AsyncIterator[tuple[bytes, tuple[int, int]]]:
        """Archived events first published on `stream` within the filter and below `before`, oldest first:
        (the event as published, its entry id there)."""


async def _oldest_in_redis(redis: Redis, stream: str) -> tuple[int, int] | None:
    first = await redis.xrange(stream, count=1)
    return parse_id(first[0][0]) if first else None


async def replay(
    redis: Redis,
    group: str,
    flt: RangeFilter,
    partitions: int,
    archive: Archive | None = None,
    progress: ProgressFn | None = None,
    page: int = 500,
) -> int:
    """Copy the range onto `bz:replay:{group}`; returns how many entries were queued for that group alone.
    Raises UnknownGroup (before queuing anything) when no such group reads the event streams."""
    known = await known_groups(redis, partitions)
    if group not in known:
        raise UnknownGroup(group, known)
    target = replay_stream(group)
    queued = 0

    async def flush(batch: list[dict]) -> None:
        nonlocal queued
        async with redis.pipeline(transaction=False) as pipe:
            for fields in batch:
                pipe.xadd(target, fields)
            await pipe.execute()
        queued += len(batch)
        if progress:
            progress(queued)
        batch.clear()

    for stream in all_event_streams(partitions):
        batch: list[dict] = []
        oldest = await _oldest_in_redis(redis, stream)
        if archive is not None and (oldest is None or flt.start < oldest):
            async for raw, position in archive.read(stream, flt, before=oldest or (2**63 - 1, 0)):
                batch.append(_copy(raw, stream, position))
                if len(batch) >= page:
                    await flush(batch)
        async for entry_id, fields in scan_range(redis, stream, flt, page=page):
            batch.append(_copy(fields[codec.EVENT_FIELD], stream, parse_id(entry_id)))
            if len(batch) >= page:
                await flush(batch)
        if batch:
            await flush(batch)
    return queued


def _copy(raw: bytes, stream: str, position: tuple[int, int]) -> dict:
    return {codec.EVENT_FIELD: raw, ORIGIN_STREAM_FIELD: stream, ORIGIN_ID_FIELD: format_id(position)}

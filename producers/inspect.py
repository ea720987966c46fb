"""Read-only views of the streams for operators: lengths, groups, lag, pending, dead letters, entry ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from events import codec
from events.ranges import RangeFilter
from events.streams import (
    COMMANDS_STREAM,
    DEAD_STREAM,
    DELIVERIES_STREAM,
    REPLAY_STREAM,
    all_event_streams,
    as_text,
    dead_stream,
    format_id,
)


@dataclass(frozen=True)
class GroupInfo:
    name: str
    lag: int | None  # None when Redis cannot tell (after deletions in the stream)
    pending: int
    consumers: int
    last_delivered_id: str


@dataclass(frozen=True)
class StreamInfo:
    stream: str
    length: int
    first_id: str | None
    last_id: str | None
    groups: list[GroupInfo] = field(default_factory=list)


async def stream_info(redis: Redis, stream: str) -> StreamInfo:
    try:
        info = await redis.xinfo_stream(stream)
    except ResponseError:  # no such stream
        return StreamInfo(stream, 0, None, None)
    groups = [
        GroupInfo(as_text(g["name"]), g.get("lag"), g["pending"], g["consumers"], as_text(g["last-delivered-id"]))
        for g in await redis.xinfo_groups(stream)
    ]
    first, last = info.get("first-entry"), info.get("last-entry")
    return StreamInfo(
        stream,
        info["length"],
        as_text(first[0]) if first else None,
        as_text(last[0]) if last else None,
        groups,
    )


async def known_groups(redis: Redis, partitions: int) -> list[str]:
    """Every group that reads the event streams, has a replay stream or has dead letters."""
    names = set()
    for stream in all_event_streams(partitions):
        names.update(g.name for g in (await stream_info(redis, stream)).groups)
    for pattern in (REPLAY_STREAM, DEAD_STREAM):
        async for key in redis.scan_iter(match=(pattern % "*")):
            names.add(as_text(key).rsplit("{", 1)[1].rstrip("}"))
    return sorted(names)


async def overview(redis: Redis, partitions: int) -> tuple[list[StreamInfo], dict[str, int]]:
    """Every stream of the platform, and the dead-letter count per group."""
    groups = await known_groups(redis, partitions)
    streams = [*all_event_streams(partitions), COMMANDS_STREAM, DELIVERIES_STREAM, *(REPLAY_STREAM % g for g in groups)]
    infos = [await stream_info(redis, s) for s in streams]
    dead = {g: await redis.xlen(dead_stream(g)) for g in groups}
    return infos, dead


async def scan_range(redis: Redis, stream: str, flt: RangeFilter, page: int = 1000):
    """Yield (entry id, fields) of the entries of `stream` within the filter, oldest first, page by page."""
    start = format_id(flt.start)
    end = format_id(flt.end)
    while True:
        entries = await redis.xrange(stream, min=start, max=end, count=page)
        for entry_id, fields in entries:
            if flt.admits(fields.get(codec.EVENT_FIELD, b"")):
                yield as_text(entry_id), fields
        if len(entries) < page:
            return
        start = "(" + as_text(entries[-1][0])


def decoded(fields: dict[bytes, bytes]) -> dict:
    """An entry for display: the event as JSON-ready data, or the decoding error."""
    raw = fields.get(codec.EVENT_FIELD, b"")
    try:
        return msgspec.to_builtins(codec.decode_event(raw))
    except codec.EventDecodeError as exc:
        return {"error": str(exc), "raw": raw.decode(errors="replace")[:2000]}

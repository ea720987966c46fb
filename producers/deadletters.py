"""Dead letters: entries a group gave up on, copied whole to `bz:dead:{group}` with the error, until redriven.

Pure Redis, so both the consumer runtime and the gateway's operator routes use it (the gateway may not import
`consumers`); `consumers.deadletter` re-exports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from events.streams import ORIGIN_ID_FIELD, ORIGIN_STREAM_FIELD, dead_stream, replay_stream

# fields added to a dead-lettered copy, beside the entry's own fields
DEAD_FIELDS = (b"group", b"stream", b"entry_id", b"error", b"deliveries", b"dead_at_ms")


@dataclass(frozen=True)
class DeadLetter:
    id: str  # its id in the dead-letter stream
    group: str
    stream: str
    entry_id: str
    error: str
    deliveries: int
    dead_at_ms: int
    fields: dict[bytes, bytes]  # the original entry's fields


async def move_to_dead(
    redis: Redis,
    group: str,
    stream: str,
    entry_id: str,
    fields: dict[bytes, bytes],
    error: str,
    deliveries: int,
) -> None:
    """Copy the entry whole to the dead-letter stream, then acknowledge it (in that order: nothing is lost)."""
    copy = dict(fields)
    copy.update(
        {
            b"group": group,
            b"stream": stream,
            b"entry_id": entry_id,
            b"error": error[:4000],
            b"deliveries": str(deliveries),
            b"dead_at_ms": str(int(time.time() * 1000)),
        }
    )
    await redis.xadd(dead_stream(group), copy)
    await redis.xack(stream, group, entry_id)


def _parse(dead_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    text = {k: v.decode(errors="replace") for k, v in fields.items() if k in DEAD_FIELDS}
    original = {k: v for k, v in fields.items() if k not in DEAD_FIELDS}
    return DeadLetter(
        id=dead_id.decode() if isinstance(dead_id, bytes) else dead_id,
        group=text.get(b"group", ""),
        stream=text.get(b"stream", ""),
        entry_id=text.get(b"entry_id", ""),
        error=text.get(b"error", ""),
        deliveries=int(text.get(b"deliveries", "0")),
        dead_at_ms=int(text.get(b"dead_at_ms", "0")),
        fields=original,
    )


async def list_dead(redis: Redis, group: str, start: str = "-", count: int = 100) -> list[DeadLetter]:
    return [_parse(i, f) for i, f in await redis.xrange(dead_stream(group), min=start, count=count)]


async def redrive(redis: Redis, group: str, ids: list[str] | None = None) -> int:
    """Re-deliver dead letters (all, or the given ids) to the group through its replay stream, then drop them."""
    moved = 0
    start = "-"
    while True:
        batch = await list_dead(redis, group, start=start, count=500)
        if not batch:
            return moved
        for dead in batch:
            if ids is None or dead.id in ids:
                entry = {k: v for k, v in dead.fields.items() if k not in (ORIGIN_STREAM_FIELD, ORIGIN_ID_FIELD)}
                entry[ORIGIN_STREAM_FIELD] = dead.fields.get(ORIGIN_STREAM_FIELD, dead.stream.encode())
                entry[ORIGIN_ID_FIELD] = dead.fields.get(ORIGIN_ID_FIELD, dead.entry_id.encode())
                await redis.xadd(replay_stream(group), entry)
                await redis.xdel(dead_stream(group), dead.id)
                moved += 1
        start = "(" + batch[-1].id


async def discard(redis: Redis, group: str, ids: list[str]) -> int:
    return await redis.xdel(dead_stream(group), *ids) if ids else 0

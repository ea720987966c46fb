"""Trim streams by MINID below the oldest entry some group still needs, never by a blind MAXLEN.

An entry may go only when every consumer group on the stream has acknowledged it and it is older than the
retention. On event streams the projector group archives each event into Postgres `event_log` before it
acknowledges, so "acknowledged by the projector" also means "archived": an event stream with no projector group is
never trimmed.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from events.streams import as_text, format_id, parse_id

ARCHIVING_GROUP = "projector"
# entries one XTRIM may remove: a bound on how long Redis is busy with it. Approximate trimming has such a bound
# anyway (100 macro nodes: 10,000 entries by default), so one call a pass fell behind any stream that grew faster
# than that per trim interval (333 events/s at the default 30 s); trim_stream calls again until it is done.
TRIM_STEP_ENTRIES = 10_000


async def safe_trim_floor(redis: Redis, stream: str, require_group: str | None = None) -> tuple[int, int] | None:
    """The lowest entry id some group still needs, or None when nothing may be trimmed."""
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception as exc:  # the stream does not exist
        if "no such key" in str(exc).lower():
            return None
        raise
    names = {as_text(g["name"]) for g in groups}
    if not groups or (require_group is not None and require_group not in names):
        return None
    floor: tuple[int, int] | None = None
    for group in groups:
        ms, seq = parse_id(group["last-delivered-id"])
        needed = (ms, seq + 1)  # everything after the last delivered entry is still unread
        if group["pending"]:
            summary = await redis.xpending(stream, as_text(group["name"]))
            if summary["min"] is not None:  # None: acknowledged since XINFO GROUPS, so nothing of it is pending now
                needed = min(needed, parse_id(summary["min"]))
        floor = needed if floor is None else min(floor, needed)
    return floor


async def trim_stream(
    redis: Redis,
    stream: str,
    retention_ms: int,
    require_group: str | None = None,
    now_ms: int | None = None,
) -> int:
    """Trim what every group has acknowledged and is older than the retention. Returns the number of entries removed."""
    floor = await safe_trim_floor(redis, stream, require_group)
    if floor is None:
        return 0
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = min(floor, (now_ms - retention_ms, 0))
    # '~' lets Redis drop whole macro nodes only: it may keep a little more, never less
    total = 0
    while removed := await redis.xtrim(stream, minid=format_id(cutoff), approximate=True, limit=TRIM_STEP_ENTRIES):
        total += removed
    return total

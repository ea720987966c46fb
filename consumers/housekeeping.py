"""What a group's reclaimer also does on each pass: export lag/pending gauges and forget long-gone consumers."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from consumers import runtime_metrics
from events.streams import as_text, dead_stream


async def export_gauges(redis: Redis, group: str, streams: Sequence[str]) -> None:
    for stream in streams:
        for info in await redis.xinfo_groups(stream):
            if as_text(info["name"]) == group:
                lag = info.get("lag")  # None when Redis cannot tell (after deletions in the stream)
                runtime_metrics.LAG.labels(group, stream).set(lag if lag is not None else float("nan"))
                runtime_metrics.PENDING.labels(group, stream).set(info["pending"])
    runtime_metrics.DEAD_LETTERS.labels(group).set(await redis.xlen(dead_stream(group)))


async def remove_stale_consumers(redis: Redis, group: str, streams: Sequence[str], me: str, idle_ms: int) -> None:
    """Consumers idle this long with nothing pending are dead processes; they would clutter XINFO forever.
    A live consumer is never this idle (each XREADGROUP BLOCK touches it), and one removed anyway loses nothing:
    it holds no entry, and its next read recreates it."""
    for stream in streams:
        for info in await redis.xinfo_consumers(stream, group):
            name = as_text(info["name"])
            if name != me and info["pending"] == 0 and info["idle"] > idle_ms:
                await redis.xgroup_delconsumer(stream, group, name)


async def leave_group(redis: Redis, group: str, streams: Sequence[str], me: str) -> None:
    """On a clean stop, delete this consumer where it holds nothing pending (where it does, it stays: deleting it
    would drop those entries from the pending list, and another consumer must reclaim them)."""
    for stream in streams:
        for info in await redis.xinfo_consumers(stream, group):
            if as_text(info["name"]) == me and info["pending"] == 0:
                await redis.xgroup_delconsumer(stream, group, me)

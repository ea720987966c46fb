"""Periodic trimming of every stream the platform writes, by the rules of producers.trim."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from events.errors import is_transient
from events.streams import COMMANDS_STREAM, DELIVERIES_STREAM, all_event_streams, replay_stream
from producers.trim import ARCHIVING_GROUP, trim_stream

log = logging.getLogger("bizosaas.trim")


async def trim_all(redis: Redis, partitions: int, groups: list[str], retention_ms: int) -> int:
    """Trim every stream; a stream that cannot be trimmed (a key of another type in its place, say) is logged and
    passed over, so one bad key never stops the others from being trimmed (Redis would fill up behind it). A
    transient error ends the pass: the server is away for all of them, and the next pass tries again."""
    # deliveries keep bodies: trimmed like commands, once the deliveries group has persisted them
    streams = [(stream, ARCHIVING_GROUP) for stream in all_event_streams(partitions)] + [
        (stream, None) for stream in [COMMANDS_STREAM, DELIVERIES_STREAM, *(replay_stream(g) for g in groups)]
    ]
    removed = 0
    for stream, required_group in streams:
        try:
            removed += await trim_stream(redis, stream, retention_ms, require_group=required_group)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("trimming %s failed: %s: %s", stream, type(exc).__name__, exc)
    return removed


async def trim_forever(
    redis: Redis,
    partitions: int,
    groups: list[str],
    retention_ms: int,
    interval_s: float,
    stopping: asyncio.Event,
) -> None:
    while not stopping.is_set():
        try:
            removed = await trim_all(redis, partitions, groups, retention_ms)
            if removed:
                log.info("trimmed %d stream entries", removed)
        except Exception as exc:  # noqa: BLE001 - trimming keeps going: a transient error is expected now and then, others are not
            level = logging.WARNING if is_transient(exc) else logging.ERROR
            log.log(level, "trim failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):  # the interval passed without a stop
            await asyncio.wait_for(stopping.wait(), interval_s)

"""The one consumer loop: consumer groups over Redis Streams with at-least-once delivery.

Per group: one reader per stream (`XREADGROUP COUNT n BLOCK ms`; no multi-key reads, so partitions can live on
different cluster shards) feeding a small queue, from which `max_inflight_batches` committers take chunks of several
streams merged into one batch (one transaction: few and large ones even at moderate load), acknowledgement only after
the handler's transaction committed, a reclaimer that takes
over entries left pending by dead consumers (`XPENDING IDLE` + `XCLAIM`), dead letters after K deliveries, back-off on
infrastructure errors, and a drain on stop. A failing batch is bisected so that one poison entry does not hold back
the entries around it.

Why not FastStream's subscriber loop: on Redis its nack/reject do nothing, it has no delivery count and no dead
letters, and reclaiming needs Redis 8.4 (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import redis.exceptions
from redis.asyncio import Redis

from consumers import runtime_metrics
from consumers.base import Backoff, RuntimeConfig, consumer_name
from consumers.deadletter import move_to_dead
from consumers.entry import Entry, batch_bytes, origin_of, split_by_bytes
from consumers.group import Group
from consumers.housekeeping import leave_group
from consumers.reclaim import Reclaiming
from events import codec
from events.codec import EventDecodeError
from events.errors import is_transient
from events.streams import LAST_ERROR_HASH

__all__ = ["Group", "GroupRunner", "Runtime", "RuntimeConfig"]

log = logging.getLogger("bizosaas.consumers")


class GroupRunner(Reclaiming):
    """One group in one process: readers, committers, and (from Reclaiming) the heartbeat and the reclaimer."""

    def __init__(self, redis: Redis, group: Group, config: RuntimeConfig, consumer: str, stopping: asyncio.Event):
        self.redis, self.group, self.config, self.consumer = redis, group, config, consumer
        self.stopping = stopping
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.held: dict[str, set[str]] = {}  # stream -> entry ids read and not yet acknowledged or failed
        self.batch_size = min(config.batch_size, group.max_batch or config.batch_size)  # entries per read and batch

    async def run(self) -> None:
        await self.ensure_groups()
        self.queue: asyncio.Queue[list[Entry] | None] = asyncio.Queue(maxsize=len(self.group.all_streams))
        readers = [
            asyncio.create_task(self._read_loop(s), name=f"{self.group.name}:{s}") for s in self.group.all_streams
        ]
        others = [
            asyncio.create_task(self._commit_loop(), name=f"{self.group.name}:commit")
            for _ in range(self.config.max_inflight_batches)
        ]
        others.append(asyncio.create_task(self._reclaim_loop(), name=f"{self.group.name}:reclaim"))
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"{self.group.name}:heartbeat")
        try:
            await asyncio.gather(*readers)  # they return once stopping is set
            await self.queue.put(None)  # then the committers finish what was read, and stop
            await asyncio.gather(*others)
            await self._leave()
        finally:
            for task in readers + others + [heartbeat]:
                task.cancel()
            await asyncio.gather(*readers, *others, heartbeat, return_exceptions=True)

    async def _leave(self) -> None:
        try:
            await leave_group(self.redis, self.group.name, self.group.all_streams, self.consumer)
        except Exception as exc:  # the stale-consumer cleanup of a later worker removes it instead
            if not is_transient(exc):
                raise
            log.warning("group %s: could not remove consumer %s: %s", self.group.name, self.consumer, exc)

    async def ensure_groups(self) -> None:
        for stream in self.group.all_streams:
            try:
                await self.redis.xgroup_create(stream, self.group.name, id="0", mkstream=True)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # --- reading -------------------------------------------------------------------------------------------

    async def _read_loop(self, stream: str) -> None:
        while not self.stopping.is_set():
            try:
                reply = await self.redis.xreadgroup(
                    self.group.name,
                    self.consumer,
                    {stream: ">"},
                    count=self.batch_size,
                    block=self.config.block_ms,
                )
            except Exception as exc:
                if is_transient(exc):
                    await self._infra_error(exc)
                    continue
                if not isinstance(exc, redis.exceptions.ResponseError) or "NOGROUP" not in str(exc):
                    raise
                await self.ensure_groups()  # the stream was deleted (e.g. a replay stream): recreate and go on
                continue
            for _, entries in reply or ():
                try:
                    batch = await self.decode(stream, [(entry_id, fields, 1) for entry_id, fields in entries])
                except Exception as exc:  # what was not acknowledged stays pending and is reclaimed later
                    if not is_transient(exc):
                        raise
                    await self._infra_error(exc)
                    continue
                for chunk in split_by_bytes(batch, self.config.batch_max_bytes):
                    await self.queue.put(chunk)  # waits while the committers are behind: back-pressure

    async def _commit_loop(self) -> None:
        """Handle what the readers queued, merging chunks of several streams into one batch (one transaction)."""
        carry: list[Entry] | None = None  # a chunk taken that would have made the batch too large: the next one
        while (batch := carry or await self.queue.get()) is not None:
            carry, size = None, batch_bytes(batch)
            while len(batch) < self.batch_size and not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    self.queue.put_nowait(None)
                    break
                if size + batch_bytes(more) > self.config.batch_max_bytes:
                    carry = more
                    break
                batch.extend(more)
                size += batch_bytes(more)
            try:
                await self.commit(batch)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await self._infra_error(exc)
        await self.queue.put(None)  # let the other committers see the end too

    async def decode(self, stream: str, entries: list[tuple[bytes, dict | None, int]]) -> list[Entry]:
        """Entries for the group; malformed entries go to dead letters, vanished ones are acknowledged."""
        batch: list[Entry] = []
        gone: list[str] = []
        for entry_id, fields, count in entries:
            entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if not fields:  # deleted from the stream while pending: nothing left to handle
                gone.append(entry_id)
                continue
            try:
                message = codec.decode_entry(fields, self.group.decode)
            except EventDecodeError as exc:
                # retrying cannot help a malformed or unknown-version entry: straight to dead letters
                await self._dead_letter(stream, entry_id, fields, str(exc), count)
                continue
            origin, position = origin_of(stream, entry_id, fields)
            batch.append(Entry(stream, entry_id, fields[codec.EVENT_FIELD], message, origin, position, count))
            self.held.setdefault(stream, set()).add(entry_id)
        if gone:  # deleted from the stream while pending: nothing left to handle
            await self._acknowledge({stream: gone}, [])
        return batch

    async def commit(self, batch: list[Entry]) -> None:
        """Run the group on the batch, then acknowledge what it committed; failures stay pending with their error
        noted."""
        started = time.perf_counter()
        done, failed = await self._handle(batch)
        for entry in batch:  # a failed entry is let go: it must turn idle to be retried or dead-lettered
            self.held[entry.stream].discard(entry.entry_id)
        by_stream: dict[str, list[str]] = {}
        for entry in done:
            by_stream.setdefault(entry.stream, []).append(entry.entry_id)
        await self._acknowledge(by_stream, [e.entry_id for e in done if e.attempts > 1])
        if failed:
            runtime_metrics.FAILED.labels(self.group.name).inc(len(failed))
            await self.redis.hset(LAST_ERROR_HASH % self.group.name, mapping={e.entry_id: err for e, err in failed})
            for entry, error in failed:
                log.warning(
                    "group %s: entry %s of %s failed (attempt %d): %s",
                    self.group.name,
                    entry.entry_id,
                    entry.stream,
                    entry.attempts,
                    error,
                )
        runtime_metrics.BATCH_SECONDS.labels(self.group.name).observe(time.perf_counter() - started)

    async def _handle(self, batch: list[Entry]) -> tuple[list[Entry], list[tuple[Entry, str]]]:
        """Commit the batch (Group.process); on an entry's error, bisect so the healthy entries still commit."""
        while True:
            try:
                await self.group.process(batch)
                self.backoff.reset()
                return batch, []
            except Exception as exc:  # noqa: BLE001 - classified below: transient back off, the rest are an entry's
                if is_transient(exc):  # the infrastructure's, not the entries': the same batch again after a back-off
                    if self.stopping.is_set():
                        return [], []  # leave them pending: another consumer reclaims them
                    await self._infra_error(exc)
                    continue
                if len(batch) == 1:
                    return [], [(batch[0], f"{type(exc).__name__}: {exc}")]
                middle = len(batch) // 2
                done_a, failed_a = await self._handle(batch[:middle])
                done_b, failed_b = await self._handle(batch[middle:])
                return done_a + done_b, failed_a + failed_b

    async def _acknowledge(self, by_stream: dict[str, list[str]], clear_errors: list[str]) -> None:
        if not by_stream:
            return
        while True:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for stream, entry_ids in by_stream.items():
                        pipe.xack(stream, self.group.name, *entry_ids)
                    if clear_errors:  # entries that had failed before: forget their last error
                        pipe.hdel(LAST_ERROR_HASH % self.group.name, *clear_errors)
                    await pipe.execute()
                runtime_metrics.PROCESSED.labels(self.group.name).inc(sum(map(len, by_stream.values())))
                return
            except Exception as exc:  # the effect is committed: an ack lost now only means a harmless redelivery
                if not is_transient(exc):
                    raise
                if self.stopping.is_set():
                    return
                await self._infra_error(exc)

    async def _dead_letter(self, stream: str, entry_id: str, fields: dict, error: str, deliveries: int) -> None:
        await move_to_dead(self.redis, self.group.name, stream, entry_id, fields, error, deliveries)
        await self.redis.hdel(LAST_ERROR_HASH % self.group.name, entry_id)
        runtime_metrics.DEAD_LETTERED.labels(self.group.name).inc()
        log.error(
            "group %s: entry %s of %s dead-lettered after %d deliveries: %s",
            self.group.name,
            entry_id,
            stream,
            deliveries,
            error,
        )

    async def _infra_error(self, exc: BaseException) -> None:
        runtime_metrics.INFRA_ERRORS.labels(self.group.name).inc()
        log.warning("group %s: infrastructure error, backing off: %s: %s", self.group.name, type(exc).__name__, exc)
        await self.backoff.sleep()


class Runtime:
    """Runs several groups in one process until stopped; stop() drains: in-flight batches finish and are acked."""

    def __init__(self, redis: Redis, groups: Sequence[Group], config: RuntimeConfig, consumer: str | None = None):
        self.stopping = asyncio.Event()
        self.consumer = consumer or consumer_name()
        self.runners = [GroupRunner(redis, g, config, self.consumer, self.stopping) for g in groups]

    async def run(self) -> None:
        await asyncio.gather(*(runner.run() for runner in self.runners))

    def stop(self) -> None:
        self.stopping.set()

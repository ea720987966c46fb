"""The half of a group runner that deals with entries nobody is working on: it keeps what this consumer holds from
looking abandoned (the heartbeat), and takes over what dead or stuck consumers left pending (the reclaimer), handing
it to the runner's own decode/commit or to dead letters after K deliveries. Also exports the group's gauges and
forgets long-gone consumers on its passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from consumers import runtime_metrics
from consumers.entry import split_by_bytes
from consumers.housekeeping import export_gauges, remove_stale_consumers
from events.errors import is_transient
from events.streams import LAST_ERROR_HASH, as_text

if TYPE_CHECKING:
    from consumers.runtime import GroupRunner

log = logging.getLogger("bizosaas.consumers")


class Reclaiming:
    """Mixed into GroupRunner (consumers/runtime.py), whose state and methods it uses."""

    async def _heartbeat_loop(self: GroupRunner) -> None:
        """Keep what this consumer holds (queued or in a transaction) from looking abandoned: a slow batch must not
        be reclaimed and handled twice, nor reach K deliveries without failing. XCLAIM JUSTID to ourselves resets an
        entry's idle time without counting a delivery."""
        interval_s = max(0.05, self.config.reclaim_idle_ms / 3000)
        while True:
            await asyncio.sleep(interval_s)
            for stream, entry_ids in list(self.held.items()):
                if entry_ids:
                    try:
                        await self.redis.xclaim(
                            stream,
                            self.group.name,
                            self.consumer,
                            min_idle_time=0,
                            message_ids=list(entry_ids),
                            justid=True,
                        )
                    except Exception as exc:
                        if not is_transient(exc):
                            raise
                        log.warning("group %s: heartbeat failed: %s", self.group.name, exc)

    async def _reclaim_loop(self: GroupRunner) -> None:
        passes = 0
        while not self.stopping.is_set():
            try:
                for stream in self.group.all_streams:
                    await self.reclaim(stream)
                await export_gauges(self.redis, self.group.name, self.group.all_streams)
                if passes % 60 == 0:
                    await remove_stale_consumers(
                        self.redis,
                        self.group.name,
                        self.group.all_streams,
                        self.consumer,
                        self.config.stale_consumer_idle_ms,
                    )
                passes += 1
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await self._infra_error(exc)
            with contextlib.suppress(TimeoutError):  # the interval passed without a stop
                await asyncio.wait_for(self.stopping.wait(), self.config.reclaim_every_s)

    async def reclaim(self: GroupRunner, stream: str) -> None:
        """Take over entries idle longer than reclaim_idle_ms: handle them again, or dead-letter after K deliveries."""
        idle_ms = self.config.reclaim_idle_ms
        while not self.stopping.is_set():
            pending = await self.redis.xpending_range(
                stream,
                self.group.name,
                min="-",
                max="+",
                count=self.batch_size,
                idle=idle_ms,
            )
            if not pending:
                return
            counts = {as_text(p["message_id"]): p["times_delivered"] for p in pending}
            claimed = await self.redis.xclaim(
                stream,
                self.group.name,
                self.consumer,
                min_idle_time=idle_ms,
                message_ids=list(counts),
            )
            runtime_metrics.RECLAIMED.labels(self.group.name).inc(len(claimed))
            retry = []
            for entry_id, fields in claimed:
                entry_id = as_text(entry_id)
                delivered = counts.get(entry_id, 0)
                if delivered >= self.config.max_deliveries and fields:
                    error = await self.redis.hget(LAST_ERROR_HASH % self.group.name, entry_id)
                    reason = as_text(error) if error else "never acknowledged (its consumers died or timed out)"
                    await self._dead_letter(stream, entry_id, fields, reason, delivered)
                else:
                    retry.append((entry_id, fields, delivered + 1))
            batch = await self.decode(stream, retry) if retry else []
            for chunk in split_by_bytes(batch, self.config.batch_max_bytes):
                await self.commit(chunk)
            if len(pending) < self.batch_size:
                return

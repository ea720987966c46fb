"""How the runtime is tuned and paced: its configuration, consumer names, back-off. What a group is: consumers/group.py.
Which errors are the infrastructure's rather than an entry's: events.errors.is_transient."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """The stream runtime's settings: each default is written here and nowhere else (a worker's Settings is one)."""

    batch_size: int = 500  # entries per XREADGROUP
    batch_max_bytes: int = 8 * 1024 * 1024  # a batch stops growing past this many bytes (it holds one entry at least)
    block_ms: int = 1000  # XREADGROUP BLOCK; also bounds how long a drain waits
    reclaim_idle_ms: int = 30_000  # a pending entry this idle belongs to a dead (or stuck) consumer
    reclaim_interval_s: float = 5.0  # how often pending entries are checked (more often when reclaim_idle_ms is short)
    max_deliveries: int = 5  # the K of "dead letter after K deliveries"
    max_inflight_batches: int = 2  # transactions in flight per group: one commits while the next is being built
    backoff_initial_s: float = 0.1  # first wait after an infrastructure error, doubling per failure
    backoff_max_s: float = 5.0
    stale_consumer_idle_ms: int = 600_000  # consumers idle this long with nothing pending are removed
    search_index_clean_interval_s: float = (
        0.25  # a projector's worker merges record search's pending entries this often
    )

    @property
    def reclaim_every_s(self) -> float:
        """Check a few times per reclaim_idle_ms, so an entry is reclaimed soon after it turns idle."""
        return min(self.reclaim_interval_s, max(0.2, self.reclaim_idle_ms / 4000))


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{random.randrange(16**4):04x}"


class Backoff:
    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s, self.max_s, self.next_s = initial_s, max_s, initial_s

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_s * random.uniform(0.5, 1.0))
        self.next_s = min(self.next_s * 2, self.max_s)

    def reset(self) -> None:
        self.next_s = self.initial_s

"""What a consumer group is (name, streams, batch handler) and how the runtime is tuned. Which errors are the
infrastructure's rather than an entry's is events.errors.is_transient."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from consumers.delivery import Delivery
from events import codec
from events.streams import replay_stream


@dataclass(frozen=True)
class RuntimeConfig:
    batch_size: int = 500
    batch_max_bytes: int = 8 * 1024 * 1024  # a batch stops growing past this many bytes (it holds one entry at least)
    block_ms: int = 1000
    reclaim_idle_ms: int = 30_000  # a pending entry this idle belongs to a dead (or stuck) consumer
    reclaim_interval_s: float = 5.0
    max_deliveries: int = 5  # the K of "dead letter after K deliveries"
    max_inflight_batches: int = 2  # transactions in flight per group: one commits while the next is being built
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    stale_consumer_idle_ms: int = 600_000  # consumers idle this long with nothing pending are removed


@dataclass
class Group:
    """A consumer group: its name, the streams it reads, and the batch handler that commits its effects."""

    name: str
    streams: Sequence[str]
    handle: Callable[[list[Delivery]], Awaitable[None]]
    decode: Callable[[bytes], Any] = codec.decode_event

    @property
    def all_streams(self) -> list[str]:
        return [*self.streams, replay_stream(self.name)]


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

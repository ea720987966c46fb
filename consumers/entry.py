"""What a group receives: one decoded stream entry with where it came from and its place in the order.

(An `Entry` is a stream entry; a "delivery" is only ever a provider's webhook delivery, consumers/deliveries.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.streams import ORIGIN_ID_FIELD, ORIGIN_STREAM_FIELD, parse_id


@dataclass(slots=True)
class Entry:
    stream: str  # the stream it was read from (a partition, the commands stream, or a replay stream)
    entry_id: str
    raw: bytes  # the event as published (what event_log archives)
    message: Any  # the decoded, upcast event or command
    origin_stream: str
    position: tuple[int, int]  # entry id at its origin: the ordering rule's tie-break
    attempts: int = 1  # how many times Redis handed it to a consumer of the group (this time included)

    @property
    def replayed(self) -> bool:
        return self.origin_stream != self.stream


def origin_of(stream: str, entry_id: str, fields: dict[bytes, bytes]) -> tuple[str, tuple[int, int]]:
    origin = fields.get(ORIGIN_STREAM_FIELD)
    if origin is None:
        return stream, parse_id(entry_id)
    return origin.decode(), parse_id(fields[ORIGIN_ID_FIELD])


def batch_bytes(batch: list[Entry]) -> int:
    return sum(len(e.raw) for e in batch)


def split_by_bytes(batch: list[Entry], max_bytes: int) -> list[list[Entry]]:
    """Consecutive chunks of at most max_bytes of events each (a larger entry is a chunk of its own): XREADGROUP
    bounds a read in entries only, and 500 entries of 1 MiB each must not become one transaction."""
    chunks: list[list[Entry]] = []
    size = max_bytes
    for entry in batch:
        if size + len(entry.raw) > max_bytes and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += len(entry.raw)
    return chunks

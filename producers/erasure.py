"""Erasure in Redis: delete a tenant's entries, or one person's, from every stream the platform writes.

Partition streams, `bz:commands`, `bz:deliveries`, and each group's replay and dead-letter streams all carry the
message under `e` (events and commands as JSON, delivery records as msgpack); a dead letter is a whole copy of its
entry. Matching entries are XDELed and acknowledged in every group of their stream, so no pending entry is left
pointing at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis

from events.codec import EVENT_FIELD
from events.streams import COMMANDS_STREAM, DELIVERIES_STREAM, all_event_streams, rejected_stream


@dataclass
class PersonEntries:
    """What marks an entry as one person's: the ids of their events, their entities, their emails (lower-case)."""

    event_ids: set[str] = field(default_factory=set)
    keys: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, source, external_id)
    emails: set[str] = field(default_factory=set)

    def matches(self, message: dict[str, Any], raw: bytes) -> bool:
        if message.get("id") in self.event_ids or self.event_ids.intersection(message.get("event_ids") or ()):
            return True
        subject = message.get("subject")
        if (
            isinstance(subject, dict)
            and (subject.get("kind"), message.get("source"), subject.get("external_id")) in self.keys
        ):
            return True
        body = message.get("body")
        text = (raw + (body if isinstance(body, bytes) else b"")).lower()
        return any(email.encode() in text for email in self.emails)


@dataclass
class SourceEntries:
    """What marks an entry as one connector's: an event from it (`source`) or a delivery record to it. Commands
    about it are kept (the disconnect command is being carried out while this runs)."""

    connector_id: str

    def matches(self, message: dict[str, Any], raw: bytes) -> bool:
        if message.get("source") == self.connector_id:
            return True
        return message.get("connector_id") == self.connector_id and "delivery_id" in message


def _message(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    for decode in (msgspec.json.decode, msgspec.msgpack.decode):
        try:
            message = decode(raw)
        except (msgspec.DecodeError, ValueError):
            continue
        return message if isinstance(message, dict) else None
    return None


async def streams_to_search(redis: Redis, partitions: int) -> list[str]:
    found = [*all_event_streams(partitions), COMMANDS_STREAM, DELIVERIES_STREAM]
    for pattern in ("bz:replay:*", "bz:dead:*"):
        async for key in redis.scan_iter(match=pattern, _type="stream"):
            found.append(key.decode())
    return sorted(set(found), key=found.index)


async def erase_entries(
    redis: Redis,
    tenant_id: str,
    partitions: int,
    person: PersonEntries | SourceEntries | None = None,
    page: int = 500,
) -> dict[str, int]:
    """XDEL the tenant's entries (all of them, the person's or the connector's); returns entries deleted per
    stream."""
    counts: dict[str, int] = {}
    for stream in await streams_to_search(redis, partitions):
        doomed: list[bytes] = []
        start = "-"
        while entries := await redis.xrange(stream, min=start, count=page):
            for entry_id, fields in entries:
                raw = fields.get(EVENT_FIELD)
                message = _message(raw)
                if message is None or message.get("tenant_id") != tenant_id:
                    continue
                if person is None or person.matches(message, raw or b""):
                    doomed.append(entry_id)
            last = entries[-1][0].decode()
            start = "(" + last
        if not doomed:
            continue
        groups = [g["name"] for g in await redis.xinfo_groups(stream)] if await redis.exists(stream) else []
        async with redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.xack(stream, group, *doomed)
            pipe.xdel(stream, *doomed)
            await pipe.execute()
        counts[stream] = len(doomed)
    if person is None:  # the tenant's refused requests: no person's data (no body), but client addresses
        rejected = await redis.xlen(rejected_stream(tenant_id))
        if rejected:
            await redis.delete(rejected_stream(tenant_id))
            counts[rejected_stream(tenant_id)] = rejected
    return counts

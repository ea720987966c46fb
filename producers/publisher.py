"""Publish events to their tenant's partition stream in one pipeline, idempotently by key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError

from events import codec
from events.commands import Command
from events.errors import TransientError
from events.streams import (
    COMMAND_IDEMPOTENCY_KEY,
    COMMANDS_STREAM,
    DEDUPE_WINDOW_S,
    DEFAULT_PARTITIONS,
    IDEMPOTENCY_KEY,
    as_text,
    events_stream,
    partition_of,
)
from events.types import Event

# Atomic "publish unless seen": the idempotency key shares its stream's hash tag, so this runs on one shard.
# Returns {1, entry id} when published, {0, event id published earlier under this key} when a duplicate.
_PUBLISH_ONCE = """
local earlier = redis.call('GET', KEYS[2])
if earlier then return {0, earlier} end
local entry = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return {1, entry}
"""


class StoreFull(TransientError):
    """Redis refused the write for memory (maxmemory reached under noeviction): nothing was written; retry later."""


def is_out_of_memory(exc: BaseException) -> bool:
    # redis-py parses the `OOM command not allowed ...` reply as OutOfMemoryError (a ResponseError, code stripped);
    # match the reply's text too, for replies that reach us as plain ResponseErrors (e.g. from inside a script)
    return isinstance(exc, (StoreFull, OutOfMemoryError)) or (
        isinstance(exc, ResponseError) and "command not allowed when used memory" in str(exc)
    )


def _raise(exc: Exception):
    if is_out_of_memory(exc):
        raise StoreFull(str(exc)) from exc
    raise exc


@dataclass(frozen=True, slots=True)
class Published:
    event_id: str  # for a duplicate: the id of the event published earlier under the same key
    stream: str
    entry_id: str | None  # None for a duplicate
    duplicate: bool = False


class Publisher:
    def __init__(
        self,
        redis: Redis,
        partitions: int = DEFAULT_PARTITIONS,
        dedupe_window_s: int = DEDUPE_WINDOW_S,
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.dedupe_window_s = dedupe_window_s
        self._publish_once = redis.register_script(_PUBLISH_ONCE)

    async def publish(
        self,
        events: Sequence[Event],
        idempotency_keys: Sequence[str | None] | None = None,
        *,
        with_entries: Sequence[tuple[str, dict]] = (),
    ) -> list[Published]:
        """Publish a batch in one round trip. A key seen within the dedupe window makes its event a no-op.
        `with_entries` are (stream, fields) written in the same round trip (the gateway's delivery records)."""
        keys = idempotency_keys if idempotency_keys is not None else [None] * len(events)
        if len(keys) != len(events):
            raise ValueError(f"{len(events)} events but {len(keys)} idempotency keys")
        streams = [events_stream(partition_of(e.tenant_id, self.partitions)) for e in events]
        bodies = [codec.encode(e) for e in events]
        replies = await self._send(events, keys, streams, bodies, with_entries)
        missing = [i for i, r in enumerate(replies[: len(events)]) if isinstance(r, NoScriptError)]
        if missing:  # Redis lost its script cache (restart, SCRIPT FLUSH): load it and send those again
            await self.redis.script_load(_PUBLISH_ONCE)  # ... only those: the rest were written
            again = await self._send(
                [events[i] for i in missing],
                [keys[i] for i in missing],
                [streams[i] for i in missing],
                [bodies[i] for i in missing],
                (),
            )
            for i, reply in zip(missing, again):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                _raise(reply)
        return [_published(event, stream, reply) for event, stream, reply in zip(events, streams, replies)]

    async def _send(self, events, keys, streams, bodies, with_entries) -> list:
        sha = self._publish_once.sha  # the script's SHA1, computed locally
        # EVALSHA by hand: redis-py's pipelined Script objects add a SCRIPT EXISTS round trip per pipeline
        async with self.redis.pipeline(transaction=False) as pipe:
            for event, key, stream, body in zip(events, keys, streams, bodies):
                if key is None:
                    pipe.xadd(stream, {codec.EVENT_FIELD: body})
                else:
                    idem = IDEMPOTENCY_KEY % (partition_of(event.tenant_id, self.partitions), key)
                    pipe.evalsha(sha, 2, stream, idem, body, event.id, self.dedupe_window_s)
            for stream, fields in with_entries:
                pipe.xadd(stream, fields)
            return await pipe.execute(raise_on_error=False)

    async def publish_command(self, command: Command, idempotency_key: str | None = None) -> Published:
        body = codec.encode(command)
        try:
            if idempotency_key is None:
                entry = await self.redis.xadd(COMMANDS_STREAM, {codec.EVENT_FIELD: body})
                return Published(command.id, COMMANDS_STREAM, as_text(entry))
            idem = COMMAND_IDEMPOTENCY_KEY % idempotency_key
            reply = await self._publish_once(
                keys=[COMMANDS_STREAM, idem], args=[body, command.id, self.dedupe_window_s]
            )
        except ResponseError as exc:
            _raise(exc)
        return _published(command, COMMANDS_STREAM, reply)


def _published(message: Event | Command, stream: str, reply: bytes | list) -> Published:
    if isinstance(reply, list):  # from the publish-once script
        fresh, value = reply
        if not fresh:
            return Published(as_text(value), stream, None, duplicate=True)
        return Published(message.id, stream, as_text(value))
    return Published(message.id, stream, as_text(reply))

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

# The same for every event of one delivery (one tenant: one partition stream, so one shard): one script call instead
# of one per event. KEYS = stream, then each event's idempotency key; ARGV = dedupe window, then body and id of each.
# Returns {fresh, entry id or earlier event id} for each event in turn, as _PUBLISH_ONCE would have one by one.
_PUBLISH_EACH_ONCE = """
local out = {}
for i = 2, #KEYS do
  local earlier = redis.call('GET', KEYS[i])
  if earlier then
    out[#out + 1] = 0
    out[#out + 1] = earlier
  else
    out[#out + 1] = 1
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2 * i - 2])
    redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'EX', ARGV[1])
  end
end
return out
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
        self._publish_each_once = redis.register_script(_PUBLISH_EACH_ONCE)

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
            await self.redis.script_load(_PUBLISH_EACH_ONCE)  # ... only those: the rest were written
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
        """One reply per event (an entry id, a {fresh, id} pair, or the error), then one per `with_entries`."""
        sha = self._publish_each_once.sha  # the script's SHA1, computed locally
        runs = _runs(keys, streams)
        # EVALSHA by hand: redis-py's pipelined Script objects add a SCRIPT EXISTS round trip per pipeline
        async with self.redis.pipeline(transaction=False) as pipe:
            for start, end in runs:
                if keys[start] is None:
                    pipe.xadd(streams[start], {codec.EVENT_FIELD: bodies[start]})
                    continue
                partition = partition_of(events[start].tenant_id, self.partitions)
                idems = [IDEMPOTENCY_KEY % (partition, key) for key in keys[start:end]]
                args = [a for i in range(start, end) for a in (bodies[i], events[i].id)]
                pipe.evalsha(sha, 1 + len(idems), streams[start], *idems, self.dedupe_window_s, *args)
            for stream, fields in with_entries:
                pipe.xadd(stream, fields)
            replies = await pipe.execute(raise_on_error=False)
        per_event: list = []
        for (start, end), reply in zip(runs, replies):
            if isinstance(reply, Exception) or keys[start] is None:
                per_event.extend([reply] * (end - start))
            else:
                per_event.extend([reply[i], reply[i + 1]] for i in range(0, len(reply), 2))
        return per_event + replies[len(runs) :]

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


def _runs(keys: Sequence[str | None], streams: Sequence[str]) -> list[tuple[int, int]]:
    """[start, end) of each script call: consecutive keyed events bound for one stream share one (a delivery's
    events: one tenant, one partition); an event without a key is an XADD of its own."""
    runs: list[tuple[int, int]] = []
    for i, (key, stream) in enumerate(zip(keys, streams)):
        if runs and key is not None and keys[i - 1] is not None and streams[i - 1] == stream:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _published(message: Event | Command, stream: str, reply: bytes | list) -> Published:
    if isinstance(reply, list):  # from the publish-once script
        fresh, value = reply
        if not fresh:
            return Published(as_text(value), stream, None, duplicate=True)
        return Published(message.id, stream, as_text(value))
    return Published(message.id, stream, as_text(reply))

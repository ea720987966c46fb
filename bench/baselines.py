"""What the projector is compared with: the raw loop (no framework) and a plain FastStream batch subscriber.

Both read the same stream entries as the projector (their own consumer group), decode them with the platform's codec,
build the same `records` rows (consumers.projector.record_row) and upsert them COPY-style: copy_records_to_table into
a per-connection temp staging table, then one INSERT ... SELECT DISTINCT ON ... ON CONFLICT DO UPDATE (same ordering
rule as the projector) into a table shaped like `records` (LIKE records INCLUDING ALL). Acknowledged after commit.
They connect as the table owner: no row-level security, no tenant switching, no archive unless asked (`archive=True`
also copies every event into a table shaped like `event_log`, the projector's second write).

Throughput is measured like the projector's: from the start of the first batch's transaction to the last commit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from consumers.projector import record_row
from events import codec
from events.streams import parse_id

COLUMNS = (
    "tenant_id",
    "kind",
    "source",
    "external_id",
    "id",
    "provider",
    "status",
    "title",
    "amount_minor",
    "currency",
    "updated_at",
    "recorded_at",
    "deleted",
    "data",
    "event_id",
    "stream_ms",
    "stream_seq",
)
KEY = "tenant_id, kind, source, external_id"
LOG_COLUMNS = (
    "tenant_id",
    "id",
    "type",
    "source",
    "subject_kind",
    "subject_id",
    "occurred_at",
    "recorded_at",
    "stream",
    "stream_ms",
    "stream_seq",
    "body",
)
STAGING = """
CREATE TEMP TABLE IF NOT EXISTS bench_staging (LIKE records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS bench_staging_log (LIKE event_log INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
"""


def upsert_sql(table: str) -> str:
    cols = ", ".join(COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[5:])
    return f"""
INSERT INTO {table} AS r ({cols})
SELECT DISTINCT ON ({KEY}) {cols} FROM bench_staging
ORDER BY {KEY}, updated_at DESC, stream_ms DESC, stream_seq DESC
ON CONFLICT ({KEY}) DO UPDATE SET {updates}
WHERE (excluded.updated_at, excluded.stream_ms, excluded.stream_seq) >= (r.updated_at, r.stream_ms, r.stream_seq)
"""


def archive_sql(table: str) -> str:
    cols = ", ".join(LOG_COLUMNS)
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM bench_staging_log ON CONFLICT DO NOTHING"


async def create_tables(admin: asyncpg.Connection, name: str) -> None:
    await admin.execute(f"""
        DROP TABLE IF EXISTS {name}_records, {name}_event_log;
        CREATE TABLE {name}_records (LIKE records INCLUDING ALL);
        CREATE TABLE {name}_event_log (LIKE event_log INCLUDING ALL);
    """)


@dataclass
class Clock:
    """First transaction start and last commit, in wall-clock seconds (comparable with Postgres timestamps)."""

    events: int = 0
    first_start: float | None = None
    last_commit: float = 0.0

    def started(self) -> None:
        if self.first_start is None:
            self.first_start = time.time()

    def committed(self, n: int) -> None:
        self.events += n
        self.last_commit = time.time()

    @property
    def events_per_s(self) -> float:
        return self.events / (self.last_commit - self.first_start) if self.first_start else 0.0


class Upserter:
    """The same COPY-based upsert for the raw loop and the peer."""

    def __init__(self, name: str, archive: bool) -> None:
        self.upsert, self.archive = upsert_sql(f"{name}_records"), archive_sql(f"{name}_event_log") if archive else None

    async def write(
        self, conn: asyncpg.Connection, stream: str, items: list[tuple[Any, bytes, tuple[int, int]]], clock: Clock
    ) -> None:
        rows = [record_row(event, position) for event, _, position in items]
        logs = (
            [
                (
                    e.tenant_id,
                    e.id,
                    e.type,
                    e.source,
                    e.subject.kind,
                    e.subject.external_id,
                    e.occurred_at,
                    e.recorded_at,
                    stream,
                    position[0],
                    position[1],
                    raw.decode(),
                )
                for e, raw, position in items
            ]
            if self.archive
            else []
        )
        clock.started()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_staging", records=rows, columns=COLUMNS)
            await conn.execute(self.upsert)
            if self.archive:
                await conn.copy_records_to_table("bench_staging_log", records=logs, columns=LOG_COLUMNS)
                await conn.execute(self.archive)
        clock.committed(len(items))


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def raw_loop(
    redis: Redis, pool: asyncpg.Pool, streams: list[str], name: str, archive: bool = False, batch_size: int = 500
) -> Clock:
    """One process, no framework: per partition XREADGROUP COUNT n, decode, COPY upsert, commit, XACK; until drained."""
    upserter, clock = Upserter(name, archive), Clock()

    async def drain(stream: str) -> None:
        await ensure_group(redis, stream, name)
        async with pool.acquire() as conn:
            while True:
                reply = await redis.xreadgroup(name, "raw", {stream: ">"}, count=batch_size)
                if not reply or not reply[0][1]:
                    return  # everything was published before the loop started: empty means drained
                entries = reply[0][1]
                items = [
                    (codec.decode_entry(fields), fields[codec.EVENT_FIELD], parse_id(entry_id))
                    for entry_id, fields in entries
                ]
                await upserter.write(conn, stream, items, clock)
                await redis.xack(stream, name, *(entry_id for entry_id, _ in entries))

    await asyncio.gather(*(drain(s) for s in streams))
    return clock


async def faststream_peer(
    redis_url: str,
    pool: asyncpg.Pool,
    streams: list[str],
    name: str,
    expected: int,
    timeout_s: float,
    archive: bool = False,
) -> Clock:
    """A plain FastStream 0.7 batch subscriber per partition (batch=True, max_records=500, group and consumer)."""
    from faststream import Context
    from faststream.redis import RedisBroker, StreamSub

    upserter, clock, done = Upserter(name, archive), Clock(), asyncio.Event()
    broker = RedisBroker(redis_url, logger=None)

    def subscribe(stream: str) -> None:
        sub = StreamSub(stream, group=name, consumer="peer", batch=True, max_records=500, last_id="0")

        @broker.subscriber(stream=sub)
        async def handle(body: list[dict[str, str]], message=Context("message")) -> None:  # noqa: B008 - FastStream's DI
            items = [
                (codec.decode_event(entry["e"]), entry["e"].encode(), parse_id(entry_id))
                for entry, entry_id in zip(body, message.raw_message["message_ids"])
            ]
            async with pool.acquire() as conn:
                await upserter.write(conn, stream, items, clock)
            if clock.events >= expected:
                done.set()

    for stream in streams:
        subscribe(stream)
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await broker.stop()
    return clock

"""Rebuild the `records` and `agent_runs` projections from `event_log`, from scratch, with the projector's own rules.

One transaction on the owner's connection: both tables are locked for its duration, so a running projector waits and
then continues on top of the rebuilt rows; readers see the old rows until the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from consumers.agent_runs import RUN_EVENT_TYPES, project_agent_runs
from consumers.projector import latest_rows, upsert_records
from events.codec import EventDecodeError, decode_event

LOG_SQL = "SELECT body, stream_ms, stream_seq FROM event_log ORDER BY tenant_id, stream_ms, stream_seq"


@dataclass
class RebuildResult:
    events: int = 0
    records: int = 0
    agent_runs: int = 0
    undecodable: int = 0


async def rebuild_records(
    admin_dsn: str,
    progress: Callable[[int, int], None] | None = None,
    page: int = 5000,
) -> RebuildResult:
    result = RebuildResult()
    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE records, agent_runs IN ACCESS EXCLUSIVE MODE")
            total = await conn.fetchval("SELECT count(*) FROM event_log")
            await conn.execute("TRUNCATE records, agent_runs")
            cursor = await conn.cursor(LOG_SQL)
            while rows := await cursor.fetch(page):
                items = []
                for row in rows:
                    try:
                        items.append((decode_event(row["body"].encode()), (row["stream_ms"], row["stream_seq"])))
                    except EventDecodeError:
                        result.undecodable += 1
                await upsert_records(conn, latest_rows(items))
                await project_agent_runs(conn, (e for e, _ in items if e.type in RUN_EVENT_TYPES))
                result.events += len(rows)
                if progress:
                    progress(result.events, total)
            result.records = await conn.fetchval("SELECT count(*) FROM records")
            result.agent_runs = await conn.fetchval("SELECT count(*) FROM agent_runs")
    finally:
        await conn.close()
    return result

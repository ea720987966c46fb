"""Rebuild the projections of `event_log` from scratch, with the projector's own rules: `records` (the ordering
rule), `agent_runs`, `sync_runs` (a run's row only moves forward) and `connector_setups` (a newer outcome wins).

One transaction on the owner's connection: the tables are locked for its duration, so a running projector waits and
then continues on top of the rebuilt rows; readers see the old rows until the commit. The sync and set-up rows are
written with each event's tenant set (`app.tenant_id`), as the projector writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

import asyncpg

from consumers.agent_runs import RUN_EVENT_TYPES, project_agent_runs
from consumers.projector import latest_rows, upsert_records
from consumers.setups import project_setups
from consumers.sync_runs import project_sync_runs
from events.codec import EventDecodeError, decode_event

LOG_SQL = "SELECT body, stream_ms, stream_seq FROM event_log ORDER BY tenant_id, stream_ms, stream_seq"
TABLES = ("records", "agent_runs", "sync_runs", "connector_setups")


@dataclass
class RebuildResult:
    events: int = 0
    records: int = 0
    agent_runs: int = 0
    undecodable: int = 0
    sync_runs: int = 0
    setups: int = 0


async def rebuild_records(
    admin_dsn: str,
    progress: Callable[[int, int], None] | None = None,
    page: int = 5000,
) -> RebuildResult:
    result = RebuildResult()
    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
            total = await conn.fetchval("SELECT count(*) FROM event_log")
            await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
            cursor = await conn.cursor(LOG_SQL)
            while rows := await cursor.fetch(page):
                items = []
                for row in rows:
                    try:
                        items.append((decode_event(row["body"].encode()), (row["stream_ms"], row["stream_seq"])))
                    except EventDecodeError:
                        result.undecodable += 1
                await upsert_records(conn, latest_rows(items))
                await _lifecycle(conn, [event for event, _ in items])
                await project_agent_runs(conn, (e for e, _ in items if e.type in RUN_EVENT_TYPES))
                result.events += len(rows)
                if progress:
                    progress(result.events, total)
            result.records = await conn.fetchval("SELECT count(*) FROM records")
            result.sync_runs = await conn.fetchval("SELECT count(*) FROM sync_runs")
            result.setups = await conn.fetchval("SELECT count(*) FROM connector_setups")
            result.agent_runs = await conn.fetchval("SELECT count(*) FROM agent_runs")
    finally:
        await conn.close()
    return result


async def _lifecycle(conn: asyncpg.Connection, events: list) -> None:
    """The sync runs and set-up outcomes among these events (in tenant and stream order), each tenant's with its
    tenant set, as the projector writes them."""
    wanted = [e for e in events if e.type.startswith(("connector.sync.", "connector.connect"))]
    for tenant, of_tenant in groupby(wanted, key=lambda e: e.tenant_id):
        mine = list(of_tenant)
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
        await project_sync_runs(conn, mine)
        await project_setups(conn, mine)

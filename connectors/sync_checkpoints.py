"""A sync run's bookkeeping in Postgres: its position (`sync_checkpoints`: the window fixed at its start, the pages
done, the greatest cursor seen, the counts) and the ids a full run listed (`sync_seen`). connectors/sync.py decides
when each is written; this module is the SQL, one statement per step where it can be (a page's position and its
seen ids are one statement).

Every write names the run (`run_id`) so a run that was dropped (failed, or replaced) writes nothing, and a page's
position is saved only if the run is still where the caller read it (`run_pages`): a second worker on the same run
(the first one's heartbeat lost but not dead) stops instead of moving the position back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from connectors.sync_pages import Target
from db.pool import tenant_transaction


@dataclass
class RunState:
    """The run in progress as the worker holds it between pages (the row's `run_*` columns)."""

    run_id: str
    full: bool
    since: str | None
    until: str | None
    pages: int  # pages done: the next is pages + 1
    total: int | None  # the listing's size at the first page
    cursor: str | None  # the greatest cursor seen by the run
    records: int
    after: str | None  # the next page's cursor (cursor pagination)


@dataclass(frozen=True)
class PageDone:
    """What one page adds to its run's position."""

    number: int
    total: int | None
    cursor: str | None
    records: int
    after: str | None
    added: int
    updated: int
    seen: list[str]  # the listed ids (a full run's deletion detection); [] for an incremental run


async def checkpoint_row(conn: asyncpg.Connection, target: Target, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM sync_checkpoints WHERE connector_id = $1 AND resource = $2" + (" FOR UPDATE" if lock else ""),
        target.connector_id,
        target.resource,
    )


async def run_state(pool: asyncpg.Pool, target: Target, run_id: str) -> RunState | None:
    """The run's position, or None when `run_id` is not the run in progress."""
    async with tenant_transaction(pool, target.tenant_id) as conn:
        row = await checkpoint_row(conn, target)
    if row is None or row["run_id"] != run_id:
        return None
    return RunState(
        run_id,
        row["run_full"],
        row["run_since"],
        row["run_until"],
        row["run_pages"],
        row["run_total"],
        row["run_cursor"],
        row["run_records"],
        row["run_after"],
    )


async def start_run(
    conn: asyncpg.Connection, target: Target, run_id: str, full: bool, since: str | None, until: str | None, now
) -> None:
    """A new run in progress, from its first page (inside the caller's transaction, which locked the row)."""
    await conn.execute(
        """INSERT INTO sync_checkpoints (tenant_id, connector_id, resource, run_id, run_full, run_since, run_until,
                                         run_pages, run_total, run_cursor, run_records, run_started_at, run_after)
           VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, 0, NULL, NULL, 0, $7, NULL)
           ON CONFLICT (tenant_id, connector_id, resource) DO UPDATE SET
             run_id = $3, run_full = $4, run_since = $5, run_until = $6, run_pages = 0, run_total = NULL,
             run_cursor = NULL, run_records = 0, run_added = 0, run_updated = 0, run_started_at = $7,
             run_after = NULL, updated_at = now()""",
        target.connector_id,
        target.resource,
        run_id,
        full,
        since,
        until,
        now,
    )


async def save_page(conn: asyncpg.Connection, target: Target, state: RunState, page: PageDone) -> bool:
    """The run's new position and the page's seen ids, in one statement, if the run is still at `state.pages`;
    answers whether it was (False: the run moved on elsewhere, or was dropped, and nothing is written). `conn` is
    in a transaction with the target's tenant set."""
    moved = await conn.fetchval(
        """WITH moved AS (
             UPDATE sync_checkpoints SET run_pages = $5, run_total = coalesce(run_total, $6), run_cursor = $7,
               run_records = run_records + $8, run_after = $9, run_added = run_added + $10,
               run_updated = run_updated + $11, updated_at = now()
             WHERE connector_id = $1 AND resource = $2 AND run_id = $3 AND run_pages = $4
             RETURNING run_id),
           seen AS (
             INSERT INTO sync_seen (tenant_id, connector_id, resource, run_id, external_id)
             SELECT current_setting('app.tenant_id'), $1, $2, $3, unnest($12::text[]) WHERE EXISTS (SELECT FROM moved)
             ON CONFLICT DO NOTHING)
           SELECT count(*) FROM moved""",
        target.connector_id,
        target.resource,
        state.run_id,
        state.pages,
        page.number,
        page.total,
        page.cursor,
        page.records,
        page.after,
        page.added,
        page.updated,
        page.seen,
    )
    return moved == 1


async def restart_pages(pool: asyncpg.Pool, target: Target, run_id: str) -> None:
    """The listing shifted under the run: its pages are read again from the first (the seen ids stay)."""
    async with tenant_transaction(pool, target.tenant_id) as conn:
        await conn.execute(
            """UPDATE sync_checkpoints SET run_pages = 0, run_total = NULL, run_after = NULL, updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
        )


# A set difference (EXCEPT), not NOT EXISTS: right after a first import both tables have outgrown their statistics,
# and the planner then chose a nested-loop anti-join comparing every record with every seen id (10,000 orders: 11 s
# of Postgres CPU; 100,000: hours). EXCEPT hashes or sorts whatever the statistics say.
UNSEEN_RECORDS = """SELECT external_id FROM records
                    WHERE kind = $1 AND source = $2 AND NOT deleted AND updated_at < $5
                    EXCEPT
                    SELECT external_id FROM sync_seen WHERE connector_id = $2 AND resource = $3 AND run_id = $4
                    ORDER BY external_id"""


async def unseen_records(
    conn: asyncpg.Connection, kind: str, target: Target, run_id: str, before: datetime
) -> list[str]:
    """The connector's live records of `kind` whose state is older than `before` and that the full run did not
    list (in the order of their ids)."""
    rows = await conn.fetch(UNSEEN_RECORDS, kind, target.connector_id, target.resource, run_id, before)
    return [r["external_id"] for r in rows]


async def end_run(pool: asyncpg.Pool, target: Target, run_id: str, cursor: str | None, error: str | None) -> None:
    """The run is over: completed (`error` None; `cursor` becomes the committed checkpoint, every run's seen ids
    go) or failed (the committed checkpoint stays, this run's seen ids go)."""
    async with tenant_transaction(pool, target.tenant_id) as conn:
        if error is None:
            await conn.execute(
                """UPDATE sync_checkpoints SET cursor = $4, run_id = NULL, last_status = 'completed',
                     last_error = NULL, last_run_at = now(), updated_at = now()
                   WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
                target.connector_id,
                target.resource,
                run_id,
                cursor,
            )
            await conn.execute(
                "DELETE FROM sync_seen WHERE connector_id = $1 AND resource = $2", target.connector_id, target.resource
            )
            return
        await conn.execute(
            """UPDATE sync_checkpoints SET run_id = NULL, last_status = 'failed', last_error = $4, last_run_at = now(),
                 updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
            error,
        )
        await conn.execute(
            "DELETE FROM sync_seen WHERE connector_id = $1 AND resource = $2 AND run_id = $3",
            target.connector_id,
            target.resource,
            run_id,
        )

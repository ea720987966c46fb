"""The `sync_runs` projection: the history of sync runs, one row per run, from the connector.sync.started,
completed and failed events (the projector's and the rebuild's). A run's row only moves forward: a started event seen
again, or after its outcome, changes nothing; an outcome sets the counts or the error and the finish time.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from events.types import Event, SyncCompleted, SyncFailed, SyncStarted

# a run's row: started inserts it (never moving an outcome back), completed/failed set the outcome
SYNC_STARTED_SQL = """
INSERT INTO sync_runs (tenant_id, run_id, connector_id, resource, full_run, status, started_at)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, 'running', $5)
ON CONFLICT (tenant_id, run_id) DO UPDATE SET started_at = coalesce(sync_runs.started_at, excluded.started_at)
"""
SYNC_FINISHED_SQL = """
INSERT INTO sync_runs AS s (tenant_id, run_id, connector_id, resource, full_run, status, finished_at, records,
                            added, updated, deleted, error, retryable)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, run_id) DO UPDATE SET full_run = excluded.full_run, status = excluded.status,
  finished_at = excluded.finished_at, records = excluded.records, added = excluded.added,
  updated = excluded.updated, deleted = excluded.deleted, error = excluded.error, retryable = excluded.retryable
WHERE s.status = 'running'
"""


async def project_sync_runs(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    """The sync lifecycle events among these, in stream order, onto `sync_runs` (events without a run id, from
    before runs carried one, are skipped)."""
    for e in events:
        if isinstance(e, SyncStarted) and e.run_id:
            await conn.execute(SYNC_STARTED_SQL, e.run_id, e.source, e.resource, e.full, e.occurred_at)
        elif isinstance(e, SyncCompleted) and e.run_id:
            counts = (e.records, e.added, e.updated, e.deleted, None, None)
            await conn.execute(
                SYNC_FINISHED_SQL, e.run_id, e.source, e.resource, e.full, "completed", e.occurred_at, *counts
            )
        elif isinstance(e, SyncFailed) and e.run_id:
            outcome = (0, 0, 0, 0, e.error, e.retryable)
            await conn.execute(
                SYNC_FINISHED_SQL, e.run_id, e.source, e.resource, e.full, "failed", e.occurred_at, *outcome
            )

"""A connector's syncs as its owner sees them: the history of runs (`GET /v1/connectors/{id}/syncs`, from the
`sync_runs` projection) and its health on `GET /v1/connectors/{id}` (its set-up's outcome, the webhooks registered at
the provider, last success, last error, needs_reauth, the schedule and its next run)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from db.pool import tenant_transaction
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, ShortText, Timestamp, json_response, read_query
from gateway.state import POOL, tenant_of

routes = Routes("connectors")


class LastError(msgspec.Struct):
    at: Timestamp
    resource: str
    run_id: str
    error: str
    retryable: bool


class Schedule(msgspec.Struct):
    interval_s: int
    paused: bool


class Setup(msgspec.Struct):
    """The set-up workflow's outcome (the `connector_setups` projection)."""

    status: Literal["connecting", "connected", "failed", "disconnected"]
    at: Timestamp
    # failed: the step that failed (test, sync, webhooks); disconnected: what was not done at the provider (webhooks,
    # revoke), comma-separated
    step: str | None
    # failed: what to fix; connected: why no webhooks were registered, when none were; disconnected: why a step was
    # not done at the provider, and what to do there by hand
    reason: str | None


class Health(msgspec.Struct):
    setup: Setup | None  # None: no set-up reported yet (or a webhooks-only provider, which has none)
    webhooks_registered: int  # webhooks the set-up registered at the provider (a disconnect deletes them)
    needs_reauth: bool  # the provider refused the stored grant: reconnect (the OAuth2 authorize route)
    last_success_at: Timestamp | None  # the last sync run that completed
    last_error: LastError | None  # the last sync run that failed
    schedule: Schedule | None  # None: no schedule yet (it is made when the connector connects)
    next_run_at: Timestamp | None  # the schedule's next tick; None when paused or without a schedule


class SyncRun(msgspec.Struct):
    run_id: str
    resource: str
    full: bool  # a full run (reconciles deletions) or an incremental one
    status: Literal["running", "completed", "failed"]
    started_at: Timestamp | None
    finished_at: Timestamp | None
    records: int  # objects listed
    added: int
    updated: int
    deleted: int
    error: str | None
    retryable: bool | None


class SyncRunList(msgspec.Struct):
    items: list[SyncRun]
    next: str | None


class SyncRunQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    resource: ShortText | None = None


def next_tick(interval_s: int, offset_s: int, now: float) -> datetime:
    """The next time of a Temporal interval spec (every interval_s, offset_s after the epoch's multiples)."""
    ticks = math.floor((now - offset_s) / interval_s) + 1
    return datetime.fromtimestamp(offset_s + ticks * interval_s, UTC)


async def health(conn, row) -> Health:
    """A connector's health: its set-up (connector_setups), its webhooks, its syncs (sync_runs) and schedule."""
    connector_id = row["id"]
    success = await conn.fetchval(
        "SELECT max(finished_at) FROM sync_runs WHERE connector_id = $1 AND status = 'completed'", connector_id
    )
    failed = await conn.fetchrow(
        """SELECT finished_at, resource, run_id, error, retryable FROM sync_runs
           WHERE connector_id = $1 AND status = 'failed' ORDER BY finished_at DESC, run_id DESC LIMIT 1""",
        connector_id,
    )
    schedule = await conn.fetchrow(
        "SELECT interval_s, paused, offset_s FROM connector_schedules WHERE connector_id = $1", connector_id
    )
    setup = await conn.fetchrow(
        "SELECT status, at, step, reason FROM connector_setups WHERE connector_id = $1", connector_id
    )
    webhooks = await conn.fetchval("SELECT count(*) FROM connector_webhooks WHERE connector_id = $1", connector_id)
    return Health(
        setup=Setup(**setup) if setup else None,
        webhooks_registered=webhooks,
        needs_reauth=row["status"] == "needs_reauth",
        last_success_at=success,
        last_error=LastError(
            at=failed["finished_at"],
            resource=failed["resource"],
            run_id=failed["run_id"],
            error=failed["error"] or "",
            retryable=bool(failed["retryable"]),
        )
        if failed
        else None,
        schedule=Schedule(schedule["interval_s"], schedule["paused"]) if schedule else None,
        next_run_at=next_tick(schedule["interval_s"], schedule["offset_s"], time.time())
        if schedule and not schedule["paused"]
        else None,
    )


@routes.route(
    "GET",
    "/v1/connectors/{connector_id}/syncs",
    permission="connectors:read",
    summary="A connector's sync runs, newest first: resource, full or incremental, times, counts, error",
    query=SyncRunQuery,
    response=SyncRunList,
    errors=(404,),
)
async def list_syncs(request: web.Request) -> web.Response:
    query = read_query(request, SyncRunQuery)
    return json_response(await sync_runs(request, request.match_info["connector_id"], query))


async def sync_runs(request: web.Request, connector_id: str, query: SyncRunQuery) -> SyncRunList:
    after = decode_cursor(query.cursor, f"syncs:{connector_id}")
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        if not await conn.fetchval("SELECT 1 FROM connectors WHERE id = $1", connector_id):
            raise ProblemError("not-found", "no such connector")
        rows = await conn.fetch(
            """SELECT run_id AS id, run_id, resource, full_run AS full, status, started_at, finished_at, records,
                      added, updated, deleted, error, retryable, coalesce(started_at, finished_at) AS at
               FROM sync_runs
               WHERE connector_id = $1 AND ($2::text IS NULL OR resource = $2)
                 AND ($3::timestamptz IS NULL OR (coalesce(started_at, finished_at), run_id) < ($3, $4::text))
               ORDER BY coalesce(started_at, finished_at) DESC, run_id DESC LIMIT $5""",
            connector_id,
            query.resource,
            *(after or (None, "")),
            query.limit + 1,
        )
    items, cursor = page(rows, query.limit, f"syncs:{connector_id}", sort_field="at")
    runs = [SyncRun(**{k: v for k, v in r.items() if k not in ("id", "at")}) for r in items]
    return SyncRunList(items=runs, next=cursor)

"""Syncing a connector's resources from its provider's API, provider-neutral: begin a run, step page by page, then
finish (deletion detection, the committed checkpoint) or fail. The Temporal activities call these one by one; `run`
chains them for a caller without Temporal.

- **An incremental run's window is fixed at its start**: after `since` (the committed checkpoint less one second)
  and before `until` (the start time), pages ordered by id. Objects changed during the run leave the window (the
  next run reads them) instead of appearing twice, and objects changed later cannot enter it. A full run lists
  everything by id with no window: a change during the run moves nothing (so no object is missed and then taken
  for deleted), a new object comes last. Either way, when the listing's total changes between pages (an object
  left the window or was deleted, so later pages shifted) the run restarts its pages: re-read objects publish
  nothing new. A resource paged by cursor (`pagination = "cursor"`, Stripe's `starting_after`) keeps the next
  page's cursor in the position instead of a page number; deletions do not shift such pages, and when the object
  the cursor names is gone (`PageCursorGone`) the run reads its pages again.
- **The position is saved in Postgres** (`sync_checkpoints`) after each page's events are published: a step that
  dies between the two re-reads the page, and the idempotency keys (connector, resource, object id, modification
  time) make its events no-ops. A new run of the same resource resumes the run in progress.
- **The checkpoint is the greatest modification time a finished run saw** (the store's own clock), and the next
  run reads after it less a second (the provider's bounds are strict, and times have seconds).
- **Deletions by full reconciliation**: a full run records the ids it lists (`sync_seen`); only when it finishes
  without error are the connector's records of that kind that it did not list, and whose state is older than the
  run's start, turned into `...deleted` events. A failed or partial run deletes nothing.
- One page (read, map, keys, counts) is connectors/sync_pages.py.
- Runs publish connector.sync.started/completed/failed with the run's id, full or incremental, and counts: objects
  listed, and of the resource's kind those added (no record held before) and updated (held at an older state),
  judged against the `records` projection when each page is read (it lags the stream a little).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from connectors.access_tokens import bound_token
from connectors.base import ApiCall, NormalizeError, PageCursorGone, ProviderBusy
from connectors.credentials import SecretStore
from connectors.normalize import utc_time
from connectors.oauth import TokenSource
from connectors.registry import get_api, get_facts
from connectors.sync_pages import Target, count_changes, gmt, last_page, later, page_events, read_page, sync_key
from db.pool import tenant_transaction
from events.errors import PermanentError, is_transient
from events.ids import derived_id
from events.types import DELETED_BY_KIND, Event, Subject, SyncCompleted, SyncFailed, SyncStarted
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.connectors.sync")

OVERLAP = timedelta(seconds=1)


class ConnectorGone(PermanentError):
    """The connector does not exist (deleted) or is not active: nothing to sync."""


@dataclass(frozen=True)
class SyncDeps:
    pool: asyncpg.Pool  # the service role's: row-level security applies
    publisher: Publisher
    secrets: SecretStore
    allow_private: bool = False  # development and tests: a store on a private address
    tokens: TokenSource | None = None  # OAuth2 connectors' access tokens (refreshed under a lock); None: as stored


@dataclass(frozen=True)
class Step:
    done: bool
    page: int  # the page just read
    total_pages: int | None
    records: int  # objects read by the run so far


@dataclass(frozen=True)
class Finished:
    run_id: str
    records: int
    deleted: int
    cursor: str | None


async def connector_row(pool: asyncpg.Pool, tenant_id: str, connector_id: str) -> asyncpg.Record:
    async with tenant_transaction(pool, tenant_id) as conn:
        row = await conn.fetchrow("SELECT provider, config, status FROM connectors WHERE id = $1", connector_id)
    if row is None:
        raise ConnectorGone(f"connector {connector_id} does not exist")
    if row["status"] != "active":  # the run's reason a person reads: "disconnected", "needs_reauth" ...
        raise ConnectorGone(f"connector {connector_id} is {row['status']}, not active")
    return row


async def api_call(deps: SyncDeps, tenant_id: str, connector_id: str) -> tuple[Any, ApiCall]:
    """The provider's api module and one call's inputs: config from Postgres, secrets from Vault (here only)."""
    row = await connector_row(deps.pool, tenant_id, connector_id)
    api = get_api(row["provider"])
    if api is None:
        raise PermanentError(f"{row['provider']} has no API to sync from (webhooks only)")
    config = row["config"] if isinstance(row["config"], dict) else json.loads(row["config"])
    secrets = await deps.secrets.read(tenant_id, connector_id) or {}
    facts = get_facts(row["provider"])
    tokens = bound_token(deps.tokens, tenant_id, connector_id) if deps.tokens and facts.auth.kind == "oauth2" else None
    return api, ApiCall(facts, config, secrets, deps.allow_private, tokens)


def _lifecycle(cls: type[Event], target: Target, provider: str, now: datetime, key: str, **fields: Any) -> Event:
    return cls(
        id=derived_id(key, int(now.timestamp() * 1000)),
        tenant_id=target.tenant_id,
        source=target.connector_id,
        provider=provider,
        subject=Subject(kind="connector", external_id=target.connector_id),
        occurred_at=now,
        recorded_at=now,
        resource=target.resource,
        **fields,
    )


async def _state(conn: asyncpg.Connection, target: Target, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM sync_checkpoints WHERE connector_id = $1 AND resource = $2" + (" FOR UPDATE" if lock else ""),
        target.connector_id,
        target.resource,
    )


async def begin(deps: SyncDeps, target: Target, run_id: str, full: bool = False) -> str:
    """Start a run (or resume the one in progress: its id is answered) with its window fixed now."""
    row = await connector_row(deps.pool, target.tenant_id, target.connector_id)
    resource = get_facts(row["provider"]).resource(target.resource)
    now = datetime.now(UTC)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await _state(conn, target, lock=True)
        if state is not None and state["run_id"]:
            return state["run_id"]
        cursor = state["cursor"] if state else None
        full = full or not resource.since_param or cursor is None
        since = None if full else gmt(utc_time(cursor) - OVERLAP)
        until = None if full else gmt(now)
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
    key = sync_key(target, run_id, "started")
    started = _lifecycle(SyncStarted, target, row["provider"], now, key, cursor=since, run_id=run_id, full=full)
    await deps.publisher.publish([started], [sync_key(target, run_id, "started")])
    return run_id


async def step(deps: SyncDeps, target: Target, run_id: str) -> Step:
    """Read the page after the saved position, publish its events, save the position."""
    api, call = await api_call(deps, target.tenant_id, target.connector_id)
    resource = call.facts.resource(target.resource)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await _state(conn, target)
    if state is None or state["run_id"] != run_id:
        raise PermanentError(f"sync run {run_id} of {target.resource} is not in progress")
    number = state["run_pages"] + 1
    try:
        page = await read_page(api, call, resource, number, state["run_since"], state["run_until"], state["run_after"])
    except PageCursorGone as exc:
        log.info("sync %s %s: %s, restarting pages", *_ids(target), exc)
        await _restart_pages(deps, target, run_id)
        return Step(False, 0, None, state["run_records"])
    if state["run_total"] is not None and page.total is not None and page.total != state["run_total"]:
        # the listing changed inside the fixed window (a deletion): later pages shifted, so read them all again
        log.info(
            "sync %s %s: listing changed (%s -> %s), restarting pages", *_ids(target), state["run_total"], page.total
        )
        await _restart_pages(deps, target, run_id)
        return Step(False, 0, page.total_pages, state["run_records"])
    now = datetime.now(UTC)
    events: list[Event] = []
    keys: list[str] = []
    cursor = state["run_cursor"]
    for obj in page.objects:
        try:
            made, made_keys = page_events(call, target, resource, api, obj, now)
        except NormalizeError as exc:  # one malformed object must not stop the sync; it still counts as listed
            log.warning("sync %s %s: object skipped: %s", *_ids(target), exc)
            made, made_keys = [], []
        events += made
        keys += made_keys
        cursor = later(cursor, api.cursor_of(resource, obj))
    added, updated = await count_changes(deps.pool, target, resource.kind, events)
    if events:
        await deps.publisher.publish(events, keys)
    done = last_page(resource, number, page)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        if state["run_full"] and page.objects:
            await conn.executemany(
                """INSERT INTO sync_seen (tenant_id, connector_id, resource, run_id, external_id)
                   VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                [(target.connector_id, target.resource, run_id, str(o.get("id", ""))) for o in page.objects],
            )
        await conn.execute(
            """UPDATE sync_checkpoints SET run_pages = $4, run_total = coalesce(run_total, $5), run_cursor = $6,
                 run_records = run_records + $7, run_after = $8, run_added = run_added + $9,
                 run_updated = run_updated + $10, updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
            number,
            page.total,
            cursor,
            len(page.objects),
            page.next_cursor,
            added,
            updated,
        )
    return Step(done, number, page.total_pages, state["run_records"] + len(page.objects))


async def _restart_pages(deps: SyncDeps, target: Target, run_id: str) -> None:
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        await conn.execute(
            """UPDATE sync_checkpoints SET run_pages = 0, run_total = NULL, run_after = NULL, updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
        )


def _ids(target: Target) -> tuple[str, str]:
    return target.connector_id, target.resource


async def finish(deps: SyncDeps, target: Target, run_id: str) -> Finished:
    """The run listed everything without error: deletion detection (full runs), the completed event, the
    checkpoint committed."""
    api, call = await api_call(deps, target.tenant_id, target.connector_id)
    resource = call.facts.resource(target.resource)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await _state(conn, target)
        if state is None or state["run_id"] != run_id:
            raise PermanentError(f"sync run {run_id} of {target.resource} is not in progress")
        gone: list[str] = []
        if state["run_full"]:
            rows = await conn.fetch(
                """SELECT r.external_id FROM records r
                   WHERE r.kind = $1 AND r.source = $2 AND NOT r.deleted AND r.updated_at < $5
                     AND NOT EXISTS (SELECT 1 FROM sync_seen s WHERE s.connector_id = $2 AND s.resource = $3
                                       AND s.run_id = $4 AND s.external_id = r.external_id)
                   ORDER BY r.external_id""",
                resource.kind,
                target.connector_id,
                target.resource,
                run_id,
                state["run_started_at"],
            )
            gone = [r["external_id"] for r in rows if api.reconciles(resource, r["external_id"])]
    now = datetime.now(UTC)
    provider = call.facts.provider
    events: list[Event] = []
    keys: list[str] = []
    for external_id in gone:
        key = sync_key(target, run_id, "deleted", external_id)
        events.append(
            DELETED_BY_KIND[resource.kind](
                id=derived_id(key, int(now.timestamp() * 1000)),
                tenant_id=target.tenant_id,
                source=target.connector_id,
                provider=provider,
                subject=Subject(kind=resource.kind, external_id=external_id),
                occurred_at=now,
                recorded_at=now,
            )
        )
        keys.append(key)
    cursor = later(state["cursor"], state["run_cursor"])
    key = sync_key(target, run_id, "completed")
    events.append(
        _lifecycle(
            SyncCompleted,
            target,
            provider,
            now,
            key,
            records=state["run_records"],
            deleted=len(gone),
            cursor=cursor,
            run_id=run_id,
            full=state["run_full"],
            added=state["run_added"],
            updated=state["run_updated"],
        )
    )
    keys.append(key)
    await deps.publisher.publish(events, keys)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        await conn.execute(
            """UPDATE sync_checkpoints SET cursor = $4, run_id = NULL, last_status = 'completed', last_error = NULL,
                 last_run_at = now(), updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
            cursor,
        )
        await conn.execute(
            "DELETE FROM sync_seen WHERE connector_id = $1 AND resource = $2", target.connector_id, target.resource
        )
    return Finished(run_id, state["run_records"], len(gone), cursor)


async def fail(deps: SyncDeps, target: Target, run_id: str, error: str, retryable: bool) -> None:
    """The run gave up: the failed event; the run is dropped (the committed checkpoint stays), nothing deleted."""
    try:
        row = await connector_row(deps.pool, target.tenant_id, target.connector_id)
        provider = row["provider"]
    except ConnectorGone:
        provider = ""
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await _state(conn, target)
    full = bool(state and state["run_id"] == run_id and state["run_full"])
    now = datetime.now(UTC)
    key = sync_key(target, run_id, "failed")
    failed = _lifecycle(
        SyncFailed, target, provider, now, key, error=error[:2000], retryable=retryable, run_id=run_id, full=full
    )
    await deps.publisher.publish([failed], [key])
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        await conn.execute(
            """UPDATE sync_checkpoints SET run_id = NULL, last_status = 'failed', last_error = $4, last_run_at = now(),
                 updated_at = now()
               WHERE connector_id = $1 AND resource = $2 AND run_id = $3""",
            target.connector_id,
            target.resource,
            run_id,
            error[:2000],
        )
        await conn.execute(
            "DELETE FROM sync_seen WHERE connector_id = $1 AND resource = $2 AND run_id = $3",
            target.connector_id,
            target.resource,
            run_id,
        )


async def run(
    deps: SyncDeps, target: Target, run_id: str, full: bool = False, attempts: int = 3, max_wait_s: float = 60.0
) -> Finished:
    """One whole run without Temporal: a busy provider is retried after its Retry-After (`attempts` times per
    page); any other failure fails the run and is raised."""
    run_id = await begin(deps, target, run_id, full)
    try:
        while True:
            for attempt in range(attempts):
                try:
                    result = await step(deps, target, run_id)
                    break
                except ProviderBusy as exc:
                    if attempt == attempts - 1:
                        raise
                    await asyncio.sleep(min(exc.retry_after_s or 2**attempt, max_wait_s))
            if result.done:
                return await finish(deps, target, run_id)
    except Exception as exc:
        await fail(deps, target, run_id, f"{type(exc).__name__}: {exc}", is_transient(exc))
        raise

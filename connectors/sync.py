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
  run reads after it less a second (the provider's bounds are strict, and times have seconds). A resource whose
  checkpoint is a position (`checkpoint = "position"`: IMAP's `<UIDVALIDITY>:<UID>`) keeps the last object's
  position instead and hands it back as `since` as it is, with no window.
- **Deletions by full reconciliation**: a full run records the ids it lists (`sync_seen`); only when it finishes
  without error are the connector's records of that kind that it did not list, and whose state is older than the
  run's start, turned into `...deleted` events. A failed or partial run deletes nothing.
- **A step reads pages for `SyncDeps.step_s`** (at least one page; the temporal-worker: `sync_step_s`), each page
  published and then its position saved before the next is read, so one Temporal activity carries many pages and
  its round trip, the connector's row and its Vault secrets are paid once per step, not per page. The connector
  must still be active before each page publishes (a disconnect stops a step at its next page).
- One page (read, map, keys, counts) is connectors/sync_pages.py; the run's rows in Postgres (position, seen ids,
  the unseen records) connectors/sync_checkpoints.py; the lifecycle events connectors/sync_events.py; what a step
  needs (`SyncDeps`) and the connector's API call, which actions and webhook set-up share, connectors/sync_deps.py.
- Runs publish connector.sync.started/completed/failed with the run's id, full or incremental, and counts: objects
  listed, and of the resource's kind those added (no record held before) and updated (held at an older state),
  judged against the `records` projection when each page is read (it lags the stream a little).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import sync_checkpoints as checkpoints
from connectors.base import ApiCall, NormalizeError, PageCursorGone, ProviderBusy
from connectors.facts import Resource
from connectors.normalize import utc_time
from connectors.registry import get_facts
from connectors.sync_deps import ConnectorGone, SyncDeps, active_connector, api_call, connector_row
from connectors.sync_events import deleted_events, lifecycle_event
from connectors.sync_pages import Target, advanced, count_changes, gmt, last_page, page_events, read_page, sync_key
from db.pool import tenant_transaction
from events.errors import PermanentError, TransientError, is_transient
from events.types import Event, SyncCompleted, SyncFailed, SyncStarted

log = logging.getLogger("bizosaas.connectors.sync")

OVERLAP = timedelta(seconds=1)


class RunMovedOn(TransientError):
    """The run's position changed under this step (another worker on the same run): read it again."""


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


async def begin(deps: SyncDeps, target: Target, run_id: str, full: bool = False) -> str:
    """Start a run (or resume the one in progress: its id is answered) with its window fixed now."""
    row = await connector_row(deps.pool, target.tenant_id, target.connector_id)
    resource = get_facts(row["provider"]).resource(target.resource)
    now = datetime.now(UTC)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await checkpoints.checkpoint_row(conn, target, lock=True)
        if state is not None and state["run_id"]:
            return state["run_id"]
        cursor = state["cursor"] if state else None
        full = full or not resource.since_param or cursor is None
        position = resource.checkpoint == "position"  # read after it as it is: no time window
        since = None if full else cursor if position else gmt(utc_time(cursor) - OVERLAP)
        until = None if full or position else gmt(now)
        await checkpoints.start_run(conn, target, run_id, full, since, until, now)
    key = sync_key(target, run_id, "started")
    started = lifecycle_event(SyncStarted, target, row["provider"], now, key, cursor=since, run_id=run_id, full=full)
    await deps.publisher.publish([started], [key])
    return run_id


async def step(deps: SyncDeps, target: Target, run_id: str) -> Step:
    """Read the pages after the saved position until the listing ends or `deps.step_s` has passed (at least one
    page), each page's events published and then its position saved."""
    api, call = await api_call(deps, target.tenant_id, target.connector_id)
    resource = call.facts.resource(target.resource)
    state = await checkpoints.run_state(deps.pool, target, run_id)
    if state is None:
        raise PermanentError(f"sync run {run_id} of {target.resource} is not in progress")
    deadline = time.monotonic() + deps.step_s
    while True:
        done, total_pages = await _page(deps, target, api, call, resource, state)
        if done or time.monotonic() >= deadline:
            return Step(done, state.pages, total_pages, state.records)


async def _page(
    deps: SyncDeps, target: Target, api: Any, call: ApiCall, resource: Resource, state: checkpoints.RunState
) -> tuple[bool, int | None]:
    """The page after `state`'s position: published, its position saved and `state` moved on to it. Answers
    (whether it ended the listing, the listing's pages)."""
    number = state.pages + 1
    try:
        page = await read_page(api, call, resource, number, state.since, state.until, state.after)
    except PageCursorGone as exc:
        log.info("sync %s %s: %s, restarting pages", *_ids(target), exc)
        await _restart_pages(deps, target, state)
        return False, None
    if state.total is not None and page.total is not None and page.total != state.total:
        # the listing changed inside the fixed window (a deletion): later pages shifted, so read them all again
        log.info("sync %s %s: listing changed (%s -> %s), restarting pages", *_ids(target), state.total, page.total)
        await _restart_pages(deps, target, state)
        return False, page.total_pages
    now = datetime.now(UTC)
    events: list[Event] = []
    keys: list[str] = []
    cursor = state.cursor
    for obj in page.objects:
        try:
            made, made_keys = page_events(call, target, resource, api, obj, now)
        except NormalizeError as exc:  # one malformed object must not stop the sync; it still counts as listed
            log.warning("sync %s %s: object skipped: %s", *_ids(target), exc)
            made, made_keys = [], []
        events += made
        keys += made_keys
        cursor = advanced(resource, cursor, api.cursor_of(resource, obj))
    # one transaction per page (its round trips are most of a page's cost beside the read): the connector is still
    # active, the changes are counted, the events published, and only then the position saved, at the commit
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        await active_connector(conn, target.connector_id)  # a disconnect stops the step at its next page
        added, updated = await count_changes(conn, target, resource.kind, events)
        if events:
            await deps.publisher.publish(events, keys)
        seen = [str(o.get("id", "")) for o in page.objects] if state.full else []
        done = checkpoints.PageDone(
            number, page.total, cursor, len(page.objects), page.next_cursor, added, updated, seen
        )
        if not await checkpoints.save_page(conn, target, state, done):
            raise RunMovedOn(f"sync run {state.run_id} of {target.resource} moved past page {state.pages} elsewhere")
    state.pages, state.cursor, state.after = number, cursor, page.next_cursor
    state.total = state.total if state.total is not None else page.total
    state.records += len(page.objects)
    return last_page(resource, number, page), page.total_pages


async def _restart_pages(deps: SyncDeps, target: Target, state: checkpoints.RunState) -> None:
    await checkpoints.restart_pages(deps.pool, target, state.run_id)
    state.pages, state.total, state.after = 0, None, None


def _ids(target: Target) -> tuple[str, str]:
    return target.connector_id, target.resource


async def finish(deps: SyncDeps, target: Target, run_id: str) -> Finished:
    """The run listed everything without error: deletion detection (full runs), the completed event, the
    checkpoint committed."""
    api, call = await api_call(deps, target.tenant_id, target.connector_id)
    resource = call.facts.resource(target.resource)
    async with tenant_transaction(deps.pool, target.tenant_id) as conn:
        state = await checkpoints.checkpoint_row(conn, target)
        if state is None or state["run_id"] != run_id:
            raise PermanentError(f"sync run {run_id} of {target.resource} is not in progress")
        gone: list[str] = []
        if state["run_full"]:
            unseen = await checkpoints.unseen_records(conn, resource.kind, target, run_id, state["run_started_at"])
            gone = [external_id for external_id in unseen if api.reconciles(resource, external_id)]
    now = datetime.now(UTC)
    provider = call.facts.provider
    events, keys = deleted_events(target, provider, resource.kind, run_id, gone, now)
    cursor = advanced(resource, state["cursor"], state["run_cursor"])
    key = sync_key(target, run_id, "completed")
    completed = lifecycle_event(
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
    await deps.publisher.publish([*events, completed], [*keys, key])
    await checkpoints.end_run(deps.pool, target, run_id, cursor, error=None)
    return Finished(run_id, state["run_records"], len(gone), cursor)


async def fail(deps: SyncDeps, target: Target, run_id: str, error: str, retryable: bool) -> None:
    """The run gave up: the failed event; the run is dropped (the committed checkpoint stays), nothing deleted."""
    try:
        row = await connector_row(deps.pool, target.tenant_id, target.connector_id)
        provider = row["provider"]
    except ConnectorGone:
        provider = ""
    state = await checkpoints.run_state(deps.pool, target, run_id)
    now = datetime.now(UTC)
    key = sync_key(target, run_id, "failed")
    failed = lifecycle_event(
        SyncFailed,
        target,
        provider,
        now,
        key,
        error=error[:2000],
        retryable=retryable,
        run_id=run_id,
        full=bool(state and state.full),
    )
    await deps.publisher.publish([failed], [key])
    await checkpoints.end_run(deps.pool, target, run_id, None, error=error[:2000])


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

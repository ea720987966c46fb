"""One page of a sync run, provider-neutral: read it through the provider's api module, turn its objects into events
with the mapping the webhooks use and their idempotency keys, and count what is new against the `records`
projection. connectors/sync.py strings pages into runs (positions, checkpoints, deletions).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from connectors.base import ApiCall, IngestContext, Page
from connectors.facts import Resource
from connectors.normalize import run_mapper, utc_time
from events.types import EntityUpserted, Event


@dataclass(frozen=True)
class Target:
    tenant_id: str
    connector_id: str
    resource: str


def gmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def later(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return a or b
    return a if utc_time(a) >= utc_time(b) else b


def sync_key(target: Target, *parts: Any) -> str:
    return ":".join(["sync", target.connector_id, target.resource, *map(str, parts)])


def advanced(resource: Resource, cursor: str | None, seen: str | None) -> str | None:
    """The checkpoint after an object whose cursor is `seen`: the later time, or for a position checkpoint the
    position of the object read last (pages come in the provider's order; a new UIDVALIDITY starts it over)."""
    if resource.checkpoint == "position":
        return seen or cursor
    return later(cursor, seen)


def version_of(api: Any, resource: Resource, obj: dict) -> str:
    """What names this state of the object in its idempotency key: its modification time (`cursor_of`), or, where the
    object carries none (Stripe, Lago, FluentCRM contacts, WordPress comments), a hash of its JSON (keys sorted), so
    a changed object publishes again and an unchanged one does not."""
    modified = api.cursor_of(resource, obj)
    if modified:
        return modified
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def read_page(api: Any, call: ApiCall, resource: Resource, number: int, since, until, after) -> Page:
    """Page `number` of the resource, or for cursor pagination the page after `after` (None: the first)."""
    if resource.pagination == "cursor":
        return await api.read_page(call, resource, number, since, until, after=after)
    return await api.read_page(call, resource, number, since, until)


def last_page(resource: Resource, number: int, page: Page) -> bool:
    """Whether `page` (the `number`-th) ends the listing."""
    if not page.objects:
        return True
    if resource.pagination == "cursor":
        return page.next_cursor is None
    if page.total_pages is not None:
        return number >= page.total_pages
    return len(page.objects) < resource.page_size


def page_events(call: ApiCall, target: Target, resource: Resource, api: Any, obj: dict, now: datetime):
    object_id, modified = str(obj.get("id", "")), version_of(api, resource, obj)
    ctx = IngestContext(
        tenant_id=target.tenant_id,
        connector_id=target.connector_id,
        delivery_id=f"sync:{resource.name}:{object_id}:{modified}",
        received_at=now,
        config=dict(call.config),
    )
    mapper = api.MAPPERS[resource.kind]
    events = run_mapper(ctx, call.facts.provider, f"sync {resource.name}", lambda out: mapper(out, obj), raw_ref=False)
    return events, [sync_key(target, object_id, modified, i) for i in range(len(events))]


async def count_changes(conn: asyncpg.Connection, target: Target, kind: str, events: list[Event]) -> tuple[int, int]:
    """(added, updated) among a page's states of the resource's kind, against the records held now: no record (or
    a tombstone) is an addition, an older one an update; a state already held (a page read again) is neither.
    `conn` is in a transaction with the target's tenant set."""
    states = {
        e.subject.external_id: e.occurred_at for e in events if e.subject.kind == kind and isinstance(e, EntityUpserted)
    }
    if not states:
        return 0, 0
    rows = await conn.fetch(
        """SELECT external_id, updated_at FROM records
           WHERE kind = $1 AND source = $2 AND NOT deleted AND external_id = ANY($3::text[])""",
        kind,
        target.connector_id,
        list(states),
    )
    held = {r["external_id"]: r["updated_at"] for r in rows}
    added = sum(1 for i in states if i not in held)
    updated = sum(1 for i, at in states.items() if i in held and held[i] < at)
    return added, updated

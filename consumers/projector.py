"""The projector group: archive every event in `event_log` and keep the current state of every entity in `records`.

One transaction per batch and one statement for all of it (`project_events`, migration 0045, run as a role that
row-level security admits only for the tenants the call names); rebuilding (consumers/rebuild.py) uses `project`.
Archiving is also the group's record of what it processed: an event already in `event_log` is skipped unless it was
replayed. An older state never overwrites a newer one: (provider time, stream position) only grows per entity
(events/ordering.py); a delete is a tombstone under the same rule. Rebuilding from `event_log` applies the same rule,
so it ends in the same rows.

The projector also keeps, in the same statement's transaction, the history of sync runs (`sync_runs`,
consumers/sync_runs.py) from the connector.sync.* events, each connector's set-up outcome (`connector_setups`,
consumers/setups.py) from the connector.connect.* events, and the agent runs (`agent_runs`, consumers/agent_runs.py)
from the agent.run.* events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
import msgspec

from consumers.agent_runs import project_agent_runs
from consumers.entry import Entry
from consumers.group import Batch, Group
from consumers.setups import project_setups
from consumers.sync_runs import project_sync_runs
from db.pool import set_tenant
from events.ids import opaque_id
from events.ordering import entity_key, newest_per_entity
from events.streams import all_event_streams
from events.types import EntityDeleted, EntityUpserted, Event

GROUP = "projector"

# which field of an entity is its title in lists (the typed column the portal sorts and searches on)
TITLE_FIELD = {
    "order": "number",
    "invoice": "number",
    "product": "name",
    "company": "name",
    "lead": "name",
    "deal": "name",
    "tag": "name",
    "list": "name",
    "campaign": "name",
    "post": "title",
    "page": "title",
    "task": "title",
    "project": "name",
    "task_list": "name",
    "cycle": "name",
    "member": "name",
    "subscription": "plan",
    "contact": "email",
    "message": "text",
    "comment": "content",
    "ad_performance": "date",  # ads and analytics (issue 13); the other new kinds have a name
    "report_row": "date",
    "product_status": "title",
    "conversation": "name",
    "message_template": "name",
}
AMOUNT_FIELDS = ("total_minor", "price_minor", "amount_minor", "spend_minor")

EVENT_LOG_COLUMNS = (
    ("tenant_id", "text"),
    ("id", "text"),
    ("type", "text"),
    ("source", "text"),
    ("subject_kind", "text"),
    ("subject_id", "text"),
    ("occurred_at", "timestamptz"),
    ("recorded_at", "timestamptz"),
    ("stream", "text"),
    ("stream_ms", "int8"),
    ("stream_seq", "int8"),
    ("body", "text"),
)
RECORD_COLUMNS = (
    ("tenant_id", "text"),
    ("kind", "text"),
    ("source", "text"),
    ("external_id", "text"),
    ("id", "text"),
    ("provider", "text"),
    ("status", "text"),
    ("title", "text"),
    ("amount_minor", "int8"),
    ("currency", "text"),
    ("updated_at", "timestamptz"),
    ("recorded_at", "timestamptz"),
    ("deleted", "bool"),
    ("data", "jsonb"),
    ("event_id", "text"),
    ("stream_ms", "int8"),
    ("stream_seq", "int8"),
)

EVENT_ID = [name for name, _ in RECORD_COLUMNS].index("event_id")


def _names(columns) -> str:
    return ", ".join(name for name, _ in columns)


def _unnest(columns, first: int) -> str:
    """`unnest($first::t1[], ...) AS n(c1, ...)`: one array parameter per column, rows built server-side."""
    arrays = ", ".join(f"${first + i}::{type_}[]" for i, (_, type_) in enumerate(columns))
    return f"unnest({arrays}) AS n({_names(columns)})"


_UPDATE = ", ".join(f"{name} = excluded.{name}" for name, _ in RECORD_COLUMNS[5:])
# the ordering rule: a state replaces the held one only if (provider time, stream position) is not older; an equal
# one is the same event again (a replay repairing a damaged row)
_UPSERT_TAIL = f"""
ON CONFLICT (tenant_id, kind, source, external_id) DO UPDATE SET {_UPDATE}
WHERE (excluded.updated_at, excluded.stream_ms, excluded.stream_seq) >= (r.updated_at, r.stream_ms, r.stream_seq)"""

UPSERT_SQL = f"""
INSERT INTO records AS r ({_names(RECORD_COLUMNS)})
SELECT * FROM {_unnest(RECORD_COLUMNS, 1)}{_UPSERT_TAIL}"""

# One statement per tenant: archive the events, and project the newest states whose event was archived just now
# (not seen before) or replayed. The archive is the projector's record of what it processed.
PROJECT_SQL = f"""
WITH fresh AS (
    INSERT INTO event_log ({_names(EVENT_LOG_COLUMNS)})
    SELECT * FROM {_unnest(EVENT_LOG_COLUMNS, 1)}
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO records AS r ({_names(RECORD_COLUMNS)})
SELECT {_names(RECORD_COLUMNS)}
FROM {_unnest((*RECORD_COLUMNS, ("replayed", "bool")), len(EVENT_LOG_COLUMNS) + 1)}
WHERE n.replayed OR n.event_id IN (SELECT id FROM fresh){_UPSERT_TAIL}"""

_encode = msgspec.json.Encoder().encode
# an escaped NUL (\u0000) preceded by an even number of backslashes: jsonb refuses it, so it becomes U+FFFD
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def jsonb_text(value: msgspec.Struct | None) -> str:
    if value is None:
        return "{}"
    raw = _encode(value)
    if b"\\u0000" in raw:  # rare: a provider sent a NUL character
        raw = _ESCAPED_NUL.sub(rb"\1\\ufffd", raw)
    return raw.decode()


def _title(kind: str, data: msgspec.Struct | None) -> str | None:
    if data is None:
        return None
    value = getattr(data, TITLE_FIELD.get(kind, "name"), None)
    if kind == "contact" and not value:
        value = f"{getattr(data, 'first_name', '')} {getattr(data, 'last_name', '')}".strip()
    return str(value)[:200] if value else None


def _amount(data: msgspec.Struct | None) -> int | None:
    for name in AMOUNT_FIELDS:
        if (value := getattr(data, name, None)) is not None:
            return value
    return None


def record_row(event: EntityUpserted | EntityDeleted, position: tuple[int, int]) -> tuple:
    tenant, kind, source, external_id = entity_key(event)
    data = event.data
    return (
        tenant,
        kind,
        source,
        external_id,
        opaque_id("rec", tenant, kind, source, external_id),
        event.provider,
        getattr(data, "status", None) or None,
        _title(kind, data),
        _amount(data),
        getattr(data, "currency", None),
        event.occurred_at,
        event.recorded_at,
        isinstance(event, EntityDeleted),
        jsonb_text(data),
        event.id,
        position[0],
        position[1],
    )


def latest_rows(items: Iterable[tuple[Event, tuple[int, int]]]) -> list[tuple]:
    """The `records` row of the newest state per entity among these (event, position) items, in entity key order."""
    return [record_row(event, position) for event, position in newest_per_entity(items)]


async def upsert_records(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    if rows:
        await conn.execute(UPSERT_SQL, *map(list, zip(*rows)))


def event_log_row(entry: Entry) -> tuple:
    e = entry.message
    return (
        e.tenant_id,
        e.id,
        e.type,
        e.source,
        e.subject.kind,
        e.subject.external_id,
        e.occurred_at,
        e.recorded_at,
        entry.origin_stream,
        entry.position[0],
        entry.position[1],
        entry.raw.decode(),
    )


async def project(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    """Archive one tenant's entries and project their newest states, in one statement."""
    replayed = {e.message.id for e in entries if e.replayed}
    # the newest state among all of them: if it was processed before, what it would write is already there
    states = [(*row, row[EVENT_ID] in replayed) for row in latest_rows((e.message, e.position) for e in entries)]
    log_columns = list(map(list, zip(*map(event_log_row, entries))))
    record_columns = list(map(list, zip(*states))) if states else [[] for _ in range(len(RECORD_COLUMNS) + 1)]
    await conn.execute(PROJECT_SQL, *log_columns, *record_columns)


# the batch as one call (migration 0045): the same statement as PROJECT_SQL for all the batch's tenants at once, run
# as a role admitted only for the tenants the call names: 1 round trip and 1 statement per batch
PROJECT_EVENTS_SQL = (
    f"SELECT project_events({', '.join(f'${n}' for n in range(1, len(EVENT_LOG_COLUMNS) + len(RECORD_COLUMNS) + 3))})"
)


@dataclass
class BatchCall:
    """A projector batch ready for the database: project_events' arguments and the lifecycle events per tenant."""

    args: list
    lifecycle: list[tuple[str, list[Event]]]


async def prepare_batch(batch: Batch) -> None:
    """Build the call before a connection is taken: the batch's columns, its newest state per entity, its tenants."""
    entries = batch.entries
    replayed = {(e.message.tenant_id, e.message.id) for e in entries if e.replayed}
    states = [
        (*row, (row[0], row[EVENT_ID]) in replayed) for row in latest_rows((e.message, e.position) for e in entries)
    ]
    log_columns = list(map(list, zip(*map(event_log_row, entries))))
    record_columns = list(map(list, zip(*states))) if states else [[] for _ in range(len(RECORD_COLUMNS) + 1)]
    lifecycle: dict[str, list[Event]] = {}  # the few events that are no entity state, per tenant
    for e in entries:
        if not isinstance(e.message, (EntityUpserted, EntityDeleted)):
            lifecycle.setdefault(e.message.tenant_id, []).append(e.message)
    tenants = sorted({e.message.tenant_id for e in entries})
    batch.state = BatchCall([*log_columns, *record_columns, tenants], sorted(lifecycle.items()))


async def project_batch(conn: asyncpg.Connection, batch: Batch) -> None:
    """Archive and project every tenant's entries of the batch in one call, then (per tenant, rare) the lifecycle
    events onto sync_runs, connector_setups and agent_runs."""
    await conn.execute(PROJECT_EVENTS_SQL, *batch.state.args)
    for tenant, events in batch.state.lifecycle:
        await set_tenant(conn, tenant)
        await project_sync_runs(conn, events)
        await project_setups(conn, events)
        await project_agent_runs(conn, events)


def _one_statement(batch: Batch) -> bool:
    return not batch.state.lifecycle  # the call alone: atomic without BEGIN and COMMIT


def projector_group(pool: asyncpg.Pool, partitions: int) -> Group:
    return Group(
        GROUP,
        all_event_streams(partitions),
        pool=pool,
        prepare=prepare_batch,
        before_commit=project_batch,
        one_statement=_one_statement,
    )

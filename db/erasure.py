"""Erasure in Postgres: a whole tenant, one person within a tenant (DESIGN.md, "Data protection"), or everything
that came from one connector (`DELETE /v1/connectors/{id}?erase=true`).

Every statement runs on the service role's pool inside a transaction with the tenant set, and keys on the tenant as
well, so row-level security bounds what an erasure can touch to that one tenant. The record of an erasure
(`erasures`, migration 0004) holds who, when, the kind of selector and counts: never the erased email or id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from db.erasure_agents import Statements, person_agent_statements, person_runs, source_agent_statements
from db.pool import tenant_transaction
from events.ids import new_id

PERSON_KINDS = ["contact", "lead"]  # entities that are a person: their external id is the person's provider id

# a record or event data that names the person: by email, or by the provider id of their contact
_MENTIONS = """(lower({d}->>'email') = ANY($2) OR lower({d}->>'customer_email') = ANY($2)
                OR lower({d}->>'author_email') = ANY($2) OR {d}->>'customer_external_id' = ANY($3))"""

PERSON_RECORDS = f"""
SELECT kind, source, external_id, lower(data->>'email') AS email FROM records
WHERE tenant_id = $1 AND ($4::text IS NULL OR source = $4)
  AND ({_MENTIONS.format(d="data")} OR (kind = ANY($5) AND external_id = ANY($3)))
"""
PERSON_EVENTS = f"""
SELECT id, subject_kind, source, subject_id FROM event_log
WHERE tenant_id = $1 AND ($4::text IS NULL OR source = $4)
  AND ({_MENTIONS.format(d="(body::jsonb -> 'data')")} OR (subject_kind = ANY($5) AND subject_id = ANY($3))
       OR (subject_kind, source, subject_id) IN (SELECT * FROM unnest($6::text[], $7::text[], $8::text[])))
"""
_KEYS = "(kind, source, external_id) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))"


@dataclass
class Person:
    """What identifies one person in a tenant, widened by what their own contact records say."""

    emails: set[str] = field(default_factory=set)  # lower-case
    external_ids: set[str] = field(default_factory=set)
    source: str | None = None  # a connector id narrows the match to it
    keys: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, source, external_id) of their entities
    event_ids: set[str] = field(default_factory=set)


async def _tenant_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        # base tables only: views with a tenant_id column (the agents' aggregates) hold no rows of their own
        """SELECT DISTINCT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND c.table_name <> 'erasures'
             AND t.table_type = 'BASE TABLE'
           ORDER BY c.table_name"""
    )
    return [r["table_name"] for r in rows]


async def erase_tenant_rows(pool: asyncpg.Pool, tenant_id: str) -> tuple[dict[str, int], list[str]]:
    """Delete every row of the tenant from every tenant table; returns counts and the ids of its connectors."""
    counts: dict[str, int] = {}
    async with tenant_transaction(pool, tenant_id) as conn:
        connectors = [r["id"] for r in await conn.fetch("SELECT id FROM connectors WHERE tenant_id = $1", tenant_id)]
        for table in await _tenant_tables(conn):
            status = await conn.execute(f'DELETE FROM "{table}" WHERE tenant_id = $1', tenant_id)
            counts[table] = _count(status)
        counts["tenants"] = _count(await conn.execute("DELETE FROM tenants WHERE id = $1", tenant_id))
    return counts, connectors


# a connector's own bookkeeping, keyed by connector_id (its row last: the erasure is then complete)
SOURCE_TABLES = (
    "deliveries",
    "sync_seen",
    "sync_checkpoints",
    "sync_runs",
    "connector_schedules",
    "connector_webhooks",
    "connector_setups",
    "connectors",
)


async def erase_source_rows(pool: asyncpg.Pool, tenant_id: str, connector_id: str) -> dict[str, int]:
    """Delete what came from one connector: its records, chunks and entities, archived events (and their inbox
    rows), raw deliveries, sync state and history, what the agents keep of it (db/erasure_agents.py), and finally
    its row. Commands stay (they hold no provider data; the disconnect command records its own outcome)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        counts = await _execute(conn, tenant_id, await source_agent_statements(conn, tenant_id, connector_id))
        for table in ("records", "rag_chunks", "rag_entities"):
            counts[table] = _count(
                await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND source = $2", tenant_id, connector_id)
            )
        counts["group_inbox"] = _count(
            await conn.execute(
                """DELETE FROM group_inbox WHERE tenant_id = $1
                   AND event_id IN (SELECT id FROM event_log WHERE tenant_id = $1 AND source = $2)""",
                tenant_id,
                connector_id,
            )
        )
        counts["event_log"] = _count(
            await conn.execute("DELETE FROM event_log WHERE tenant_id = $1 AND source = $2", tenant_id, connector_id)
        )
        for table in SOURCE_TABLES:
            column = "id" if table == "connectors" else "connector_id"
            counts[table] = _count(
                await conn.execute(
                    f"DELETE FROM {table} WHERE tenant_id = $1 AND {column} = $2", tenant_id, connector_id
                )
            )
    return counts


async def find_person(conn: asyncpg.Connection, tenant_id: str, person: Person) -> None:
    """Widen the selector (a contact found by email brings its provider id, and back), then collect the person's
    entities and every archived event that is about them or names them."""
    for _ in range(2):
        rows = await conn.fetch(
            PERSON_RECORDS, tenant_id, sorted(person.emails), sorted(person.external_ids), person.source, PERSON_KINDS
        )
        for r in rows:
            person.keys.add((r["kind"], r["source"], r["external_id"]))
            if r["kind"] in PERSON_KINDS:
                person.external_ids.add(r["external_id"])
                if r["email"]:
                    person.emails.add(r["email"])
    kinds, sources, ids = _columns(person.keys)
    rows = await conn.fetch(
        PERSON_EVENTS,
        tenant_id,
        sorted(person.emails),
        sorted(person.external_ids),
        person.source,
        PERSON_KINDS,
        kinds,
        sources,
        ids,
    )
    for r in rows:
        person.event_ids.add(r["id"])
        person.keys.add((r["subject_kind"], r["source"], r["subject_id"]))
    # agent runs about them or woken by their events: run entities of the person, so their events go too
    person.keys |= await person_runs(conn, tenant_id, _columns(person.keys), person.event_ids, person.emails)
    kinds, sources, ids = _columns(person.keys)  # every event of every entity found, e.g. its deletion
    rows = await conn.fetch(
        "SELECT id FROM event_log WHERE tenant_id = $1 AND (subject_kind, source, subject_id) IN "
        "(SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))",
        tenant_id,
        kinds,
        sources,
        ids,
    )
    person.event_ids.update(r["id"] for r in rows)


async def erase_person_rows(pool: asyncpg.Pool, tenant_id: str, person: Person) -> dict[str, int]:
    """Delete the person's entities, events (and the outbound webhook attempts carrying them), chunks, commands and
    what the agents keep of them (db/erasure_agents.py); empty the raw body of deliveries naming them."""
    async with tenant_transaction(pool, tenant_id) as conn:
        await find_person(conn, tenant_id, person)
        keys = _columns(person.keys)
        events = sorted(person.event_ids)
        emails = sorted(person.emails)
        counts = await _execute(conn, tenant_id, await person_agent_statements(conn, tenant_id, keys, events, emails))
        for table in ("records", "rag_chunks", "rag_entities"):
            counts[table] = _count(
                await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND {_KEYS}", tenant_id, *keys)
            )
        counts["event_log"] = _count(
            await conn.execute("DELETE FROM event_log WHERE tenant_id = $1 AND id = ANY($2)", tenant_id, events)
        )
        counts["group_inbox"] = _count(
            await conn.execute("DELETE FROM group_inbox WHERE tenant_id = $1 AND event_id = ANY($2)", tenant_id, events)
        )
        # outbound webhook attempts carry the event as sent (queued or delivered): they go with the event
        counts["hook_attempts"] = _count(
            await conn.execute(
                "DELETE FROM hook_attempts WHERE tenant_id = $1 AND event_id = ANY($2)", tenant_id, events
            )
        )
        counts["deliveries"] = _count(
            await conn.execute(
                """UPDATE deliveries
               SET body = '\\x'::bytea, headers = '{}', error = 'raw body erased', updated_at = now()
               WHERE tenant_id = $1 AND length(body) > 0 AND (event_ids && $2::text[]
                     OR EXISTS (SELECT 1 FROM unnest($3::text[]) e
                                WHERE position(convert_to(e, 'UTF8') IN body) > 0
                                   OR position(e IN lower(encode(body, 'escape'))) > 0))""",
                tenant_id,
                events,
                emails,
            )
        )
        counts["commands"] = _count(
            await conn.execute(
                """DELETE FROM commands WHERE tenant_id = $1
               AND EXISTS (SELECT 1 FROM unnest($2::text[]) e WHERE position(e IN lower(body::text)) > 0)""",
                tenant_id,
                emails,
            )
        )
    return counts


async def record_erasure(
    pool: asyncpg.Pool,
    tenant_id: str,
    scope: str,
    selector: str,
    requested_by: str,
    started_at: datetime,
    counts: dict[str, int],
) -> str:
    erasure_id = "era_" + new_id().lower()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO erasures (id, tenant_id, scope, selector, requested_by, started_at, counts) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
            erasure_id,
            tenant_id,
            scope,
            selector,
            requested_by,
            started_at,
            json.dumps(counts, sort_keys=True),
        )
    return erasure_id


def _columns(keys: set[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str]]:
    ordered = sorted(keys)
    return [k[0] for k in ordered], [k[1] for k in ordered], [k[2] for k in ordered]


async def _execute(conn: asyncpg.Connection, tenant_id: str, statements: Statements) -> dict[str, int]:
    return {place: _count(await conn.execute(sql, tenant_id, *args)) for place, (sql, *args) in statements.items()}


def _count(status: str) -> int:
    return int(status.split()[-1])

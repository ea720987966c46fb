"""Tenants and their API keys in Postgres, always through row-level security.

Creating a tenant happens before any tenant is set, so the transaction sets the *new* tenant's id first and then
inserts its row and its first key: the service role never needs to bypass row-level security (docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.pool import tenant_transaction
from events.ids import new_id
from events.knowledge import KNOWLEDGE_SOURCE
from gateway.auth import NewKey, new_api_key
from gateway.problems import ProblemError


@dataclass(frozen=True)
class CreatedTenant:
    id: str
    name: str
    api_key: str  # shown once
    key_id: str


def new_tenant_id() -> str:
    return "ten_" + new_id().lower()


async def create_tenant(pool: asyncpg.Pool, name: str) -> CreatedTenant:
    tenant_id = new_tenant_id()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, name)
        key, key_id, _ = await insert_api_key(conn, tenant_id, "initial admin key", "admin")
    return CreatedTenant(tenant_id, name, key.key, key_id)


async def insert_api_key(
    conn: asyncpg.Connection,
    tenant_id: str,
    name: str,
    role: str,
) -> tuple[NewKey, str, datetime]:
    """Insert a key for the transaction's tenant; returns the key (to show once), its id and creation time."""
    key = new_api_key()
    key_id = "key_" + new_id().lower()
    created = await conn.fetchval(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, hash, role) VALUES ($1, $2, $3, $4, $5, $6) "
        "RETURNING created_at",
        tenant_id,
        key_id,
        name,
        key.prefix,
        key.hash,
        role,
    )
    return key, key_id, created


async def check_connector_quota(conn: asyncpg.Connection, tenant_id: str, limit: int) -> None:
    """In the creating transaction, before the INSERT: at most `limit` connectors per tenant. The transaction lock
    per tenant makes two concurrent creations count one after the other."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('connectors:' || $1))", tenant_id)
    count = await conn.fetchval(
        "SELECT count(*) FROM connectors WHERE tenant_id = $1 AND status <> 'disconnected'", tenant_id
    )
    if count >= limit:
        raise ProblemError(
            "quota-exceeded",
            f"this tenant has {count} connectors, the limit "
            f"(BIZOSAAS_TENANT_MAX_CONNECTORS) is {limit}: delete one, or ask the operator to raise it",
        )


async def check_knowledge_quota(pool: asyncpg.Pool, tenant_id: str, document_id: str, adding: int, limit: int) -> None:
    """Before publishing an upload: the tenant's stored knowledge (uploaded bytes of its live documents, the one
    being replaced excluded) plus this one stays within `limit`. Checked against what the projector has stored, so
    uploads in flight at the same moment may pass it together by a few documents."""
    async with tenant_transaction(pool, tenant_id) as conn:
        stored = await conn.fetchval(
            "SELECT coalesce(sum((data->>'size_bytes')::bigint), 0) FROM records "
            "WHERE tenant_id = $1 AND kind = 'document' AND source = $2 AND NOT deleted AND external_id <> $3",
            tenant_id,
            KNOWLEDGE_SOURCE,
            document_id,
        )
    if stored + adding > limit:
        raise ProblemError(
            "quota-exceeded",
            f"this tenant stores {stored} bytes of knowledge; {adding} more would "
            f"pass the limit (BIZOSAAS_TENANT_MAX_KNOWLEDGE_BYTES) of {limit}",
        )

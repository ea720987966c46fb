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
from gateway.auth import NewKey, new_api_key


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


async def insert_api_key(conn: asyncpg.Connection, tenant_id: str, name: str, role: str,
                         ) -> tuple[NewKey, str, datetime]:
    """Insert a key for the transaction's tenant; returns the key (to show once), its id and creation time."""
    key = new_api_key()
    key_id = "key_" + new_id().lower()
    created = await conn.fetchval(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, hash, role) VALUES ($1, $2, $3, $4, $5, $6) "
        "RETURNING created_at", tenant_id, key_id, name, key.prefix, key.hash, role,
    )
    return key, key_id, created

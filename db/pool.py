"""The asyncpg pool every service uses, and the transaction that sets the tenant for row-level security."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pgvector.asyncpg import register_vector

SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"  # true: for this transaction only

# Every statement is planned for the values it runs with. asyncpg prepares each statement once per connection, and
# after five executions Postgres may keep a generic plan instead, one that knows nothing of the parameters: it takes
# every array as ten elements. Our batch statements join on arrays of hundreds (unnest), and a generic plan chosen
# while a table was still near-empty stayed on its connection for good: the outbound delivered write then scanned
# the tenant's every attempt, 17 s a statement instead of 12 ms (docs/benchmarks.md, outbound, session 12).
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Nothing of ours lives in a session: the tenant is set per transaction (set_config(..., true)), and asyncpg
    still rolls back an open transaction on release. Skipping the reset query saves a round trip per checkout."""


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_no_session_reset,
        server_settings=SERVER_SETTINGS,
    )


async def set_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Point row-level security at one tenant until the transaction ends; call again to switch tenants."""
    await conn.execute(SET_TENANT, tenant_id)


@asynccontextmanager
async def tenant_transaction(pool: asyncpg.Pool, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        await set_tenant(conn, tenant_id)
        yield conn

"""The asyncpg pool every service uses, and the transaction that sets the tenant for row-level security."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pgvector.asyncpg import register_vector

SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"  # true: for this transaction only

# The same, and the transaction's statements planned for the values they run with. asyncpg prepares each statement
# once per connection, and after five executions Postgres may keep a generic plan instead, one that knows nothing of
# the parameters: it takes every array for ten elements. A statement that joins an array of hundreds to a large table
# (`unnest($1::text[], ...) ... WHERE a.id = x.id`) then got a plan chosen while the table was near-empty, for good:
# the outbound delivered write scanned the tenant's every attempt, 17 s a statement instead of 12 ms. Not the default:
# the projector's batch statements are planned well either way, and planning them per batch (their arrays copied into
# the plan) cost Postgres 10% more CPU per event (docs/decisions.md, "Plans made with the values").
SET_TENANT_PLAN_WITH_VALUES = (
    "SELECT set_config('app.tenant_id', $1, true), set_config('plan_cache_mode', 'force_custom_plan', true)"
)


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
    )


async def set_tenant(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Point row-level security at one tenant until the transaction ends; call again to switch tenants."""
    await conn.execute(SET_TENANT, tenant_id)


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant_id: str, plan_with_values: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction with the tenant set; `plan_with_values` for statements that join arrays to large tables."""
    async with pool.acquire() as conn, conn.transaction():
        if plan_with_values:
            await conn.execute(SET_TENANT_PLAN_WITH_VALUES, tenant_id)
        else:
            await set_tenant(conn, tenant_id)
        yield conn

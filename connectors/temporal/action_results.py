"""The action ledger (migration 0044): what each action workflow's provider call answered, so a retried activity
answers that instead of calling the provider again.

Temporal retries an activity that did not report back, even when its work was done: a worker killed after the
provider answered, or its completion lost on the way. For a read or a "set the stock to 7" that is harmless; for
"send this email" or "create this card" it is a second email or card. The ledger narrows at-least-once to the moment
between the provider's answer and the ledger's commit.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from db.pool import tenant_transaction


async def recorded(pool: asyncpg.Pool, tenant_id: str, workflow_id: str) -> dict[str, Any] | None:
    """The result an earlier attempt of this workflow's action kept, if any."""
    async with tenant_transaction(pool, tenant_id) as conn:
        kept = await conn.fetchval("SELECT result FROM action_results WHERE workflow_id = $1", workflow_id)
    return None if kept is None else json.loads(kept)


async def record(pool: asyncpg.Pool, tenant_id: str, workflow_id: str, action: str, result: dict[str, Any]) -> None:
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO action_results (tenant_id, workflow_id, action, result) "
            "VALUES (current_setting('app.tenant_id'), $1, $2, $3::jsonb) ON CONFLICT DO NOTHING",
            workflow_id,
            action,
            json.dumps(result),
        )

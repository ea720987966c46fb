"""A tenant's daily token budget (table agent_run_usage, migration 0019, under row-level security): the specialists'
runs (agents/temporal/activities.py) and the personal agent's turns (agents/personal.py) spend the same budget, are
counted in the same rows and are refused by the same rule, so a tenant cannot go past it by chatting.

A row is one run (`run_...`, its concurrency slot until released) or one chat turn (`chat_...`, released at once: a
turn holds no slot). Tokens are the model's own counts (prompt + completion) for the UTC day the row was made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from agents.tenant_settings import TenantLimits

PERSONAL_AGENT_ID = "personal"  # agent_run_usage.agent_id of chat turns (no catalog id is this)

TOKENS_TODAY = "SELECT coalesce(sum(tokens), 0) FROM agent_run_usage WHERE day = (now() AT TIME ZONE 'utc')::date"


async def budget_refusal(conn: asyncpg.Connection, limits: TenantLimits) -> str | None:
    """Why the tenant may not spend more tokens today, or None (in a tenant transaction: RLS picks the tenant)."""
    used, budget = await conn.fetchval(TOKENS_TODAY), limits.daily_token_budget
    if used >= budget:
        return f"the tenant used {used} of its {budget} tokens today (daily token budget)"
    return None


async def runs_in_progress(conn: asyncpg.Connection, run_timeout_s: float) -> int:
    """The runs holding a concurrency slot (in a tenant transaction). A slot left by a run whose workflow was
    terminated is free again after twice the run timeout."""
    return await conn.fetchval(
        "SELECT count(*) FROM agent_run_usage WHERE released_at IS NULL "
        "AND admitted_at > now() - make_interval(secs => $1)",
        2 * run_timeout_s,
    )


async def tokens_today(conn: asyncpg.Connection) -> int:
    """Tokens the tenant's runs and chat turns spent this UTC day (in a tenant transaction)."""
    return await conn.fetchval(TOKENS_TODAY)


async def charge_turn(conn: asyncpg.Connection, tenant_id: str, turn_id: str, tokens: int) -> None:
    """Count one chat turn's tokens for today; a turn charged twice (the same id) counts once."""
    await conn.execute(
        "INSERT INTO agent_run_usage (tenant_id, run_id, agent_id, released_at, tokens) VALUES ($1, $2, $3, now(), $4) "
        "ON CONFLICT (tenant_id, run_id) DO NOTHING",
        tenant_id,
        turn_id,
        PERSONAL_AGENT_ID,
        tokens,
    )


def seconds_to_next_day(now: datetime | None = None) -> int:
    """Until the budget starts again: the next UTC midnight (for Retry-After)."""
    now = now or datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()) + 1)

"""The outbound dispatcher's claims (consumers/outbound_dispatch.py): due attempts leased in one statement per tenant
and round, and claimed attempts that were not tried handed back."""

from __future__ import annotations

import time

import asyncpg

from consumers.outbound import ATTEMPT_ID_PREFIX
from consumers.outbound_outcomes import Claimed
from db.pool import tenant_transaction
from events.ids import first_id_at

PRUNE_BATCH_ROWS = 10_000  # attempts deleted per statement of the log's retention

# One statement (one round trip) claims and leases: per subscription of the tenant that is enabled, not backing off
# and not full ($4/$5: attempts this process holds), its oldest due attempts up to its free room (the per-hook index
# of 0037), locked SKIP LOCKED (another dispatcher's are passed over), at most $1 in all. Taken per subscription, not
# in the tenant's due order: the group inserts an event's attempts together, so the oldest few hundred rows may all
# belong to one or two endpoints that have room for a handful.
CLAIM = """
WITH room AS (
    SELECT s.id AS hook_id, $3::int - coalesce(u.held, 0) AS n FROM hook_subscriptions s
    LEFT JOIN unnest($4::text[], $5::int[]) AS u(hook_id, held) ON u.hook_id = s.id
    WHERE s.enabled AND (s.paused_until IS NULL OR s.paused_until <= now())
    ORDER BY coalesce(u.held, 0), random()  -- when $1 cuts the claim short, the emptiest lanes were served first
), chosen AS (
    SELECT r.hook_id, c.id FROM room r CROSS JOIN LATERAL (
        SELECT a.id FROM hook_attempts a
        WHERE a.hook_id = r.hook_id AND a.status = 'pending' AND a.next_attempt_at <= now()
          AND (a.leased_until IS NULL OR a.leased_until <= now())  -- a filter: leased ones are the index's first few
        ORDER BY a.next_attempt_at LIMIT r.n FOR UPDATE OF a SKIP LOCKED
    ) c
    WHERE r.n > 0
    LIMIT $1
)
-- only unindexed columns change: a heap-only update, no index entries (migration 0042)
UPDATE hook_attempts a SET leased_until = now() + make_interval(secs => $2), attempts = a.attempts + 1,
    last_attempt_at = now()
FROM chosen c, hook_subscriptions s WHERE a.hook_id = c.hook_id AND a.id = c.id AND s.id = c.hook_id
-- in Claimed's field order; the body as the bytes that are signed and sent (no str made and encoded again per try)
RETURNING a.id, a.hook_id, a.event_id, convert_to(a.body, 'UTF8'), a.attempts, a.queued_at, s.target_url,
    s.secret_rotated_at
"""


async def claim_due(
    pool: asyncpg.Pool,
    tenant: str,
    candidates: int,
    lease_s: float,
    per_hook: int,
    held: dict[str, int],
) -> list[Claimed]:
    """Lease up to `candidates` due attempts of `tenant`, at most `per_hook` per subscription counting the ones
    this process holds already (`held`: subscription id -> attempts)."""
    async with tenant_transaction(pool, tenant, plan_with_values=True) as conn:
        leased = await conn.fetch(CLAIM, candidates, lease_s, per_hook, list(held), list(held.values()))
    return [Claimed(tenant, *r) for r in leased]


async def hand_back(pool: asyncpg.Pool, attempts: list[Claimed]) -> None:
    """Claimed attempts (of one tenant) that were not tried: due again now, their try count as it was."""
    async with tenant_transaction(pool, attempts[0].tenant, plan_with_values=True) as conn:
        await conn.execute(
            "UPDATE hook_attempts a SET leased_until = NULL, attempts = a.attempts - 1 "
            "FROM unnest($1::text[], $2::text[]) AS x(hook_id, id) "
            "WHERE a.hook_id = x.hook_id AND a.id = x.id AND a.status = 'pending'",
            [a.hook_id for a in attempts],
            [a.id for a in attempts],
        )


async def prune_attempt_log(pool: asyncpg.Pool, retention_s: float) -> int:
    """Delete the delivered and failed attempts of every tenant created more than `retention_s` ago (migration
    0043), a batch per statement; how many went."""
    before = ATTEMPT_ID_PREFIX + first_id_at(int((time.time() - retention_s) * 1000))
    deleted = 0
    async with pool.acquire() as conn:
        while True:
            batch = await conn.fetchval("SELECT prune_hook_attempts($1, $2)", before, PRUNE_BATCH_ROWS)
            deleted += batch
            if batch < PRUNE_BATCH_ROWS:
                return deleted

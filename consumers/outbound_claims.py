"""The outbound dispatcher's claims (consumers/outbound_dispatch.py): due attempts leased in one statement per tenant
and round, and claimed attempts that were not tried handed back."""

from __future__ import annotations

import asyncpg

from consumers.outbound_outcomes import Claimed
from db.pool import tenant_transaction

# One statement (one round trip) claims and leases: the candidates are locked in due order, skipping the full
# endpoints ($1) and rows another dispatcher holds; of each endpoint's candidates only its free slots are leased
# ($4 minus what $5/$6 say is in flight); the rest stay due, their locks released with the transaction.
CLAIM = """
WITH candidates AS (
    SELECT a.id, a.hook_id, a.next_attempt_at FROM hook_attempts a JOIN hook_subscriptions s ON s.id = a.hook_id
    WHERE a.status = 'pending' AND a.next_attempt_at <= now() AND s.enabled
      AND (s.paused_until IS NULL OR s.paused_until <= now()) AND NOT (a.hook_id = ANY($1::text[]))
    ORDER BY a.next_attempt_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED
), ranked AS (
    SELECT c.id, row_number() OVER (PARTITION BY c.hook_id ORDER BY c.next_attempt_at, c.id) AS nth,
           $4::int - coalesce(u.used, 0) AS free
    FROM candidates c LEFT JOIN unnest($5::text[], $6::int[]) AS u(hook_id, used) ON u.hook_id = c.hook_id
)
UPDATE hook_attempts a SET next_attempt_at = now() + make_interval(secs => $3), attempts = a.attempts + 1,
    last_attempt_at = now()
FROM ranked r, hook_subscriptions s WHERE a.id = r.id AND r.nth <= r.free AND s.id = a.hook_id
RETURNING a.id, a.hook_id, a.event_id, a.body, a.attempts, a.queued_at, s.target_url, s.secret_rotated_at
"""


async def claim_due(
    pool: asyncpg.Pool,
    tenant: str,
    candidates: int,
    lease_s: float,
    per_hook: int,
    full: list[str],
    partly: list[tuple[str, int]],
) -> list[Claimed]:
    """Lease up to `candidates` due attempts of `tenant`, at most `per_hook` claimed per subscription counting what
    this process holds already (`partly`: subscription id, attempts held; `full`: none to add)."""
    async with tenant_transaction(pool, tenant) as conn:
        leased = await conn.fetch(
            CLAIM, full, candidates, lease_s, per_hook, [hook for hook, _ in partly], [n for _, n in partly]
        )
    return [
        Claimed(
            tenant,
            r["id"],
            r["hook_id"],
            r["event_id"],
            r["body"].encode(),
            r["attempts"],
            r["queued_at"],
            r["target_url"],
            r["secret_rotated_at"],
        )
        for r in leased
    ]


async def hand_back(pool: asyncpg.Pool, attempts: list[Claimed]) -> None:
    """Claimed attempts (of one tenant) that were not tried: due again now, their try count as it was."""
    async with tenant_transaction(pool, attempts[0].tenant) as conn:
        await conn.execute(
            "UPDATE hook_attempts SET next_attempt_at = now(), attempts = attempts - 1 "
            "WHERE id = ANY($1::text[]) AND status = 'pending'",
            [a.id for a in attempts],
        )

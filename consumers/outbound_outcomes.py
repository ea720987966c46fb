"""What a try's outcome writes (consumers/outbound_dispatch.py sends the tries): a 2xx marks attempts delivered and
clears their endpoints' failures, in batches; a failure backs the attempt off (or gives it up past the horizon),
pauses the endpoint, and disables one failing persistently."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from connectors.config import ConnectorsConfig
from db.pool import tenant_transaction
from events.ids import new_id
from events.types import HookDisabled, Subject


@dataclass(frozen=True)
class Claimed:
    tenant: str
    id: str
    hook_id: str
    event_id: str
    body: bytes
    attempts: int  # this try included
    queued_at: datetime
    target_url: str
    secret_rotated_at: datetime | None  # the signing secrets' version (consumers/outbound_secrets.py)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None  # why it failed (never a secret: the URL is not repeated here)
    retry_after_s: float | None = None  # the receiver's Retry-After, in seconds

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_s(value: str | None) -> float | None:
    """A receiver's Retry-After in seconds (the delay form; a date is not honoured)."""
    return float(value) if value and value.strip().isdigit() else None


def backoff_s(failures: int, config: ConnectorsConfig) -> float:
    """Exponential with full jitter between half and all of the step: retries of many attempts spread out."""
    step = min(config.outbound_backoff_max_s, config.outbound_backoff_initial_s * 2 ** max(0, failures - 1))
    return step * random.uniform(0.5, 1.0)


# At most this many deliveries per WRITE_DELIVERED. While hook_attempts has never been analyzed (the first minute
# after a migration, before autovacuum first looks), Postgres plans a batch of about a thousand or more as a hash join
# over every attempt of the tenant: 166 ms for 1,000 rows of a 200,000-row table against 12 ms for 700 by the primary
# key; and a writer that falls behind gathers ever larger batches. Capped, each statement stays a lookup by the key
# (docs/benchmarks.md, outbound, session 11).
DELIVERED_PER_WRITE = 500

# The attempts delivered, and their endpoints' failure counts and pauses cleared, in one statement. An endpoint
# already clear whose last_delivered_at is under a second old is left alone: with hundreds of deliveries a second,
# rewriting every endpoint's row per batch would be most of the batch's writes (the stamp is shown, not used).
WRITE_DELIVERED = """
WITH done AS (
    UPDATE hook_attempts a SET status = 'delivered', delivered_at = now(), last_error = NULL, last_status_code = x.code,
        leased_until = NULL
    FROM unnest($1::text[], $2::text[], $3::int[]) AS x(hook_id, id, code) WHERE a.hook_id = x.hook_id AND a.id = x.id
)
UPDATE hook_subscriptions SET consecutive_failures = 0, failing_since = NULL, paused_until = NULL,
    last_delivered_at = now()
WHERE id = ANY($4::text[]) AND (consecutive_failures <> 0 OR failing_since IS NOT NULL OR paused_until IS NOT NULL
    OR last_delivered_at IS NULL OR last_delivered_at < now() - interval '1 second')
"""


async def write_delivered(pool: asyncpg.Pool, batch: list[tuple[Claimed, int]]) -> None:
    """Tries answered 2xx (attempt, status code), a transaction per tenant and DELIVERED_PER_WRITE attempts."""
    by_tenant: dict[str, list[tuple[Claimed, int]]] = {}
    for attempt, code in batch:
        by_tenant.setdefault(attempt.tenant, []).append((attempt, code))
    for tenant, answered in sorted(by_tenant.items()):
        for start in range(0, len(answered), DELIVERED_PER_WRITE):
            done = answered[start : start + DELIVERED_PER_WRITE]
            async with tenant_transaction(pool, tenant, plan_with_values=True) as conn:
                await conn.execute(
                    WRITE_DELIVERED,
                    [a.hook_id for a, _ in done],
                    [a.id for a, _ in done],
                    [code for _, code in done],
                    sorted({a.hook_id for a, _ in done}),  # sorted: one lock order for concurrent writers
                )


async def write_failure(
    conn: asyncpg.Connection, attempt: Claimed, outcome: Outcome, config: ConnectorsConfig
) -> HookDisabled | None:
    """A try that failed: the attempt backs off (or gives up past the horizon), the endpoint pauses, and one
    failing persistently is disabled; answers the event to publish after the commit, if it was."""
    delay_s = max(backoff_s(attempt.attempts, config), outcome.retry_after_s or 0.0)
    give_up = (datetime.now(UTC) - attempt.queued_at).total_seconds() + delay_s > config.outbound_max_age_s
    await conn.execute(
        "UPDATE hook_attempts SET status = $2, next_attempt_at = now() + make_interval(secs => $3), "
        "leased_until = NULL, last_status_code = $4, last_error = $5 WHERE hook_id = $6 AND id = $1",
        attempt.id,
        "failed" if give_up else "pending",
        delay_s,
        outcome.status_code,
        outcome.error,
        attempt.hook_id,
    )
    hook = await conn.fetchrow(
        "UPDATE hook_subscriptions SET consecutive_failures = consecutive_failures + 1, "
        "failing_since = coalesce(failing_since, now()), updated_at = now() WHERE id = $1 "
        "RETURNING consecutive_failures, failing_since, enabled",
        attempt.hook_id,
    )
    if hook is None:
        return None
    pause_s = max(backoff_s(hook["consecutive_failures"], config), outcome.retry_after_s or 0.0)
    failing_s = (datetime.now(UTC) - hook["failing_since"]).total_seconds()
    persistent = (
        hook["consecutive_failures"] >= config.outbound_disable_after_failures
        and failing_s >= config.outbound_disable_after_s
    )
    reason = (
        f"{hook['consecutive_failures']} deliveries failed in a row over {failing_s:.0f} s; the last: {outcome.error}"
    )
    await conn.execute(
        "UPDATE hook_subscriptions SET paused_until = now() + make_interval(secs => $2), "
        "enabled = enabled AND NOT $3, disabled_reason = CASE WHEN $3 THEN $4 ELSE disabled_reason END "
        "WHERE id = $1",
        attempt.hook_id,
        pause_s,
        persistent and hook["enabled"],
        reason,
    )
    if not (persistent and hook["enabled"]):
        return None
    now = datetime.now(UTC)
    return HookDisabled(
        id=new_id(),
        tenant_id=attempt.tenant,
        source="outbound",
        subject=Subject(kind="hook", external_id=attempt.hook_id),
        occurred_at=now,
        recorded_at=now,
        reason=reason,
        consecutive_failures=hook["consecutive_failures"],
    )

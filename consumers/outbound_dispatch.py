"""The outbound webhook dispatcher: delivers the attempts the `outbound` group queued (consumers/outbound.py).

It runs beside the groups in `bizosaas worker` (any number of processes: a claimed attempt is leased, so two never
send it at once). Each round:

1. `hook_tenants_due()` (SECURITY DEFINER: tenant ids only) names the tenants with attempts due whose endpoint is
   enabled and not backing off; everything after that runs per tenant, with that tenant set, under row-level
   security, like every other service;
2. per tenant, one short transaction claims due attempts (`FOR UPDATE SKIP LOCKED`) and leases them: at most
   `outbound_endpoint_concurrency` in flight per subscription in this process (and `outbound_max_in_flight` in
   all), so a slow or dead endpoint holds only its own slots and never another's deliveries;
3. each claimed attempt is a task: sign (Standard Webhooks, every current secret), POST with no redirects followed
   to public addresses only (connectors/public_http.py), then record the outcome in its own transaction:
   2xx delivered; 410 the subscription is removed; anything else a failure, retried with exponential back-off and
   jitter (the attempt's own, and a pause of the whole endpoint) until `outbound_max_age_s` after it was queued,
   then `failed`. An endpoint failing `outbound_disable_after_failures` times in a row with no delivery for
   `outbound_disable_after_s` is disabled, and `hook.disabled.v1` is published.

A worker that dies mid-send leaves its attempts leased; they are due again when the lease ends (at least once; the
webhook-id header, the event id, lets a receiver drop a repeat).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import asyncpg
from prometheus_client import Counter, Histogram

from connectors.config import ConnectorsConfig
from connectors.credentials import SecretStore, webhook_secrets
from connectors.public_http import public_session, refused_address
from connectors.signatures import standard_webhooks_signature
from db.pool import tenant_transaction
from events.ids import new_id
from events.types import HookDisabled, Subject
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.outbound")

SENT = Counter("bizosaas_outbound_tries_total", "Outbound webhook tries (one POST each), by outcome", ["outcome"])
SECONDS = Histogram("bizosaas_outbound_try_seconds", "Outbound webhook request time (answered or not)")

CLAIM_CANDIDATES = 200  # rows looked at per tenant and round
LEASE_MARGIN_S = 30.0  # a claimed attempt is due again this long after its request's timeout
MAX_TENANTS_PER_ROUND = 1000
ERROR_MAX_CHARS = 300

CLAIM = """
SELECT a.id, a.hook_id FROM hook_attempts a JOIN hook_subscriptions s ON s.id = a.hook_id
WHERE a.status = 'pending' AND a.next_attempt_at <= now() AND s.enabled
  AND (s.paused_until IS NULL OR s.paused_until <= now()) AND NOT (a.hook_id = ANY($1::text[]))
ORDER BY a.next_attempt_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED
"""
LEASE = """
UPDATE hook_attempts a SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1,
    last_attempt_at = now()
FROM hook_subscriptions s WHERE a.id = ANY($1::text[]) AND s.id = a.hook_id
RETURNING a.id, a.hook_id, a.event_id, a.body, a.attempts, a.queued_at, s.target_url
"""


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


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None  # why it failed (never a secret: the URL is not repeated here)
    retry_after_s: float | None = None  # the receiver's Retry-After, in seconds

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff_s(failures: int, config: ConnectorsConfig) -> float:
    """Exponential with full jitter between half and all of the step: retries of many attempts spread out."""
    step = min(config.outbound_backoff_max_s, config.outbound_backoff_initial_s * 2 ** max(0, failures - 1))
    return step * random.uniform(0.5, 1.0)


def _retry_after(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None


@dataclass
class Dispatcher:
    pool: asyncpg.Pool  # the service role's: row-level security applies
    secrets: SecretStore  # the hooks' signing secrets (VaultSecrets with collection="hooks")
    publisher: Publisher
    config: ConnectorsConfig
    in_flight: Tally[str] = field(default_factory=Tally)  # subscription id -> attempts being sent by this process
    tasks: set[asyncio.Task] = field(default_factory=set)
    delivered: list[tuple[Claimed, int]] = field(default_factory=list)  # 2xx answers not yet written
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until `stopping` is set, then let the requests in flight finish (their leases cover a crash)."""
        timeout = aiohttp.ClientTimeout(total=self.config.outbound_timeout_s)
        cap = self.config.outbound_max_in_flight
        async with public_session(self.config.allow_private_urls, limit=cap, timeout=timeout) as session:
            while not stopping.is_set():
                started = 0
                if len(self.tasks) < cap:
                    try:
                        started = await self.dispatch_once(session)
                    except (OSError, asyncpg.PostgresError) as exc:  # the database is away: try again next round
                        log.warning("outbound dispatcher: %s", type(exc).__name__)
                if not started:
                    await self._idle(stopping)
            if self.tasks:
                await asyncio.wait(self.tasks)

    async def _idle(self, stopping: asyncio.Event) -> None:
        """Nothing could be claimed: wait until a try ends (its endpoint has a free slot again), `stopping` is set,
        or `outbound_poll_s` passes (new attempts, ended back-offs)."""
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait(
                {stop, *self.tasks}, timeout=self.config.outbound_poll_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()

    async def dispatch_once(self, session: aiohttp.ClientSession) -> int:
        """Claim what is due in every tenant and start sending it; the number of attempts started."""
        async with self.pool.acquire() as conn:
            tenants = [
                r["tenant_id"] for r in await conn.fetch("SELECT * FROM hook_tenants_due($1)", MAX_TENANTS_PER_ROUND)
            ]
        random.shuffle(tenants)  # no tenant always goes first
        started = 0
        for tenant in tenants:
            room = self.config.outbound_max_in_flight - len(self.tasks)
            if room <= 0:
                break
            for attempt in await self.claim(tenant, room):
                self.in_flight[attempt.hook_id] += 1
                task = asyncio.create_task(self.deliver(session, attempt))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                started += 1
        return started

    async def claim(self, tenant: str, room: int) -> list[Claimed]:
        limit = self.config.outbound_endpoint_concurrency
        busy = [hook for hook, n in self.in_flight.items() if n >= limit]
        lease_s = self.config.outbound_timeout_s + LEASE_MARGIN_S
        async with tenant_transaction(self.pool, tenant) as conn:
            rows = await conn.fetch(CLAIM, busy, CLAIM_CANDIDATES)
            if not rows:
                return []
            # per subscription, only its free slots: the rest stay due for the next round
            ids, taken = [], Tally[str]()
            for row in rows:
                hook = row["hook_id"]
                if self.in_flight[hook] + taken[hook] < limit and len(ids) < room:
                    taken[hook] += 1
                    ids.append(row["id"])
            leased = await conn.fetch(LEASE, ids, lease_s)
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
            )
            for r in leased
        ]

    async def deliver(self, session: aiohttp.ClientSession, attempt: Claimed) -> None:
        try:
            outcome = await self.send(session, attempt)
            SENT.labels("delivered" if outcome.delivered else str(outcome.status_code or "error")).inc()
            if outcome.delivered:
                self.delivered.append((attempt, outcome.status_code or 200))
                await self.record_delivered()
            else:
                await self.record(attempt, outcome)
        except Exception:  # recording failed (the database is away): the lease makes the attempt due again
            log.exception("outbound attempt %s of hook %s: not recorded", attempt.id, attempt.hook_id)
        finally:
            self.in_flight[attempt.hook_id] -= 1
            if self.in_flight[attempt.hook_id] <= 0:
                del self.in_flight[attempt.hook_id]

    async def send(self, session: aiohttp.ClientSession, attempt: Claimed) -> Outcome:
        keys = webhook_secrets(await self.secrets.read(attempt.tenant, attempt.hook_id), time.time())
        if not keys:
            return Outcome(error="no signing secret is stored for this subscription")
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "BizOSaaS-Webhooks/1",
            "webhook-id": attempt.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_webhooks_signature(keys, attempt.event_id, timestamp, attempt.body),
        }
        started = time.monotonic()
        try:
            async with session.post(attempt.target_url, data=attempt.body, headers=headers, allow_redirects=False) as r:
                await r.content.read(1024)  # a little of the answer; the rest is dropped with the connection
                return Outcome(
                    r.status, None if r.status < 300 else f"HTTP {r.status}", _retry_after(r.headers.get("Retry-After"))
                )
        except TimeoutError:
            return Outcome(error=f"no answer within {self.config.outbound_timeout_s:g} s")
        except aiohttp.ClientError as exc:
            refused = refused_address(exc)
            return Outcome(error=str(refused) if refused else f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS])
        finally:
            SECONDS.observe(time.monotonic() - started)

    async def record_delivered(self) -> None:
        """Write every 2xx answered so far, one transaction per tenant: while one write runs, the next ones gather
        behind it and go together (a delivery costs a share of a transaction, not one of its own)."""
        async with self.writing:
            batch, self.delivered = self.delivered, []
            by_tenant: dict[str, list[tuple[Claimed, int]]] = {}
            for attempt, code in batch:
                by_tenant.setdefault(attempt.tenant, []).append((attempt, code))
            for tenant, done in sorted(by_tenant.items()):
                async with tenant_transaction(self.pool, tenant) as conn:
                    await conn.execute(
                        "UPDATE hook_attempts a SET status = 'delivered', delivered_at = now(), last_error = NULL, "
                        "last_status_code = x.code FROM unnest($1::text[], $2::int[]) AS x(id, code) WHERE a.id = x.id",
                        [a.id for a, _ in done],
                        [code for _, code in done],
                    )
                    await conn.execute(
                        "UPDATE hook_subscriptions SET consecutive_failures = 0, failing_since = NULL, "
                        "paused_until = NULL, last_delivered_at = now() WHERE id = ANY($1::text[])",
                        sorted({a.hook_id for a, _ in done}),  # sorted: one lock order for concurrent writers
                    )

    async def record(self, attempt: Claimed, outcome: Outcome) -> None:
        """Write a try that did not deliver: 410 removes the subscription, anything else backs off (or gives up)."""
        disabled: HookDisabled | None = None
        async with tenant_transaction(self.pool, attempt.tenant) as conn:
            if outcome.status_code == 410:  # Gone: the receiver wants nothing more (its attempts go with it)
                await conn.execute("DELETE FROM hook_subscriptions WHERE id = $1", attempt.hook_id)
            else:
                disabled = await self._failed(conn, attempt, outcome)
        if outcome.status_code == 410:
            await self.secrets.delete(attempt.tenant, attempt.hook_id)
            log.info("hook %s answered 410 Gone: removed", attempt.hook_id)
        if disabled is not None:
            await self.publisher.publish([disabled])
            log.warning("hook %s disabled: %s", attempt.hook_id, disabled.reason)

    async def _failed(self, conn: asyncpg.Connection, attempt: Claimed, outcome: Outcome) -> HookDisabled | None:
        config = self.config
        delay_s = max(backoff_s(attempt.attempts, config), outcome.retry_after_s or 0.0)
        give_up = (datetime.now(UTC) - attempt.queued_at).total_seconds() + delay_s > config.outbound_max_age_s
        await conn.execute(
            "UPDATE hook_attempts SET status = $2, next_attempt_at = now() + make_interval(secs => $3), "
            "last_status_code = $4, last_error = $5 WHERE id = $1",
            attempt.id,
            "failed" if give_up else "pending",
            delay_s,
            outcome.status_code,
            outcome.error,
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
            f"{hook['consecutive_failures']} deliveries failed in a row over {failing_s:.0f} s; "
            f"the last: {outcome.error}"
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

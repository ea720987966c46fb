"""The outbound webhook dispatcher: delivers the attempts the `outbound` group queued (consumers/outbound.py).

It runs beside the groups in `bizosaas worker` (any number of processes: a claimed attempt is leased, so two never
send it at once). Each round:

1. `hook_tenants_due()` (SECURITY DEFINER: tenant ids only) names the tenants with attempts due whose endpoint is
   enabled and not backing off; everything after that runs per tenant, with that tenant set, under row-level
   security, like every other service;
2. per tenant, one statement claims due attempts (`FOR UPDATE SKIP LOCKED`) and leases them: at most
   `outbound_endpoint_concurrency` in flight per subscription in this process (and `outbound_max_in_flight` in
   all), so a slow or dead endpoint holds only its own slots and never another's deliveries;
3. each claimed attempt is a task: sign (Standard Webhooks, every current secret, read from Vault once per
   subscription and rotation: consumers/outbound_secrets.py), POST with no redirects followed to public addresses
   only (connectors/public_http.py, one session: connections kept alive per host), then record the outcome:
   2xx delivered, written in batches by one writer after the endpoint's slot is freed (the lease still covers the
   attempt until then); 410 the subscription is removed; anything else a failure, in its own transaction before the
   slot is freed (the endpoint's pause is written before it can be claimed again), retried with exponential back-off and
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

import aiohttp
import asyncpg
from prometheus_client import Counter, Histogram

from connectors.config import ConnectorsConfig
from connectors.credentials import SecretStore, webhook_secrets
from connectors.public_http import public_session, refused_address
from connectors.signatures import standard_webhooks_signature
from consumers.outbound_outcomes import Claimed, Outcome, write_delivered, write_failure
from consumers.outbound_secrets import HookSecrets
from db.pool import tenant_transaction
from events.types import HookDisabled
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.outbound")

SENT = Counter("bizosaas_outbound_tries_total", "Outbound webhook tries (one POST each), by outcome", ["outcome"])
SECONDS = Histogram("bizosaas_outbound_try_seconds", "Outbound webhook request time (answered or not)")

CLAIM_CANDIDATES = 200  # rows looked at per tenant and round
LEASE_MARGIN_S = 30.0  # a claimed attempt is due again this long after its request's timeout
MAX_TENANTS_PER_ROUND = 1000
ROUND_PAUSE_S = 0.01
ERROR_MAX_CHARS = 300

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
    writer: asyncio.Task | None = None  # writing `delivered`, while there is any
    keys: HookSecrets = field(init=False)
    _tenants: list[str] = field(default_factory=list)  # due_tenants' last answer ...
    _tenants_at: float = 0.0  # ... and when (monotonic)

    def __post_init__(self) -> None:
        self.keys = HookSecrets(self.secrets)

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
                else:  # let a few more tries end before the next claim: fewer, fuller claims
                    await asyncio.sleep(ROUND_PAUSE_S)
            if self.tasks:
                await asyncio.wait(self.tasks)
            if self.writer is not None:
                await self.writer

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
        tenants = await self.due_tenants()
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
        if not started:
            self._tenants_at = 0.0  # nothing left where work was: ask again next round
        return started

    async def due_tenants(self) -> list[str]:
        """The tenants with due attempts, asked at most once per `outbound_poll_s` while they keep having work (the
        question reads every due attempt; the claims that follow are indexed)."""
        if time.monotonic() - self._tenants_at > self.config.outbound_poll_s:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch("SELECT * FROM hook_tenants_due($1)", MAX_TENANTS_PER_ROUND)
            self._tenants, self._tenants_at = [r["tenant_id"] for r in rows], time.monotonic()
            random.shuffle(self._tenants)  # no tenant always goes first
        return self._tenants

    async def claim(self, tenant: str, room: int) -> list[Claimed]:
        limit = self.config.outbound_endpoint_concurrency
        busy = [hook for hook, n in self.in_flight.items() if n >= limit]
        partly = [(hook, n) for hook, n in self.in_flight.items() if n < limit]
        lease_s = self.config.outbound_timeout_s + LEASE_MARGIN_S
        async with tenant_transaction(self.pool, tenant) as conn:
            # no more candidates than there is room for: each one is a row lock written to its tuple
            leased = await conn.fetch(
                CLAIM,
                busy,
                min(CLAIM_CANDIDATES, room),
                lease_s,
                limit,
                [hook for hook, _ in partly],
                [n for _, n in partly],
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

    async def deliver(self, session: aiohttp.ClientSession, attempt: Claimed) -> None:
        try:
            outcome = await self.send(session, attempt)
            SENT.labels("delivered" if outcome.delivered else str(outcome.status_code or "error")).inc()
            if outcome.delivered:  # written by the writer; the endpoint's slot is free now
                self.delivered.append((attempt, outcome.status_code or 200))
                if self.writer is None:
                    self.writer = asyncio.create_task(self.write_delivered())
            else:
                await self.record(attempt, outcome)
        except Exception:  # recording failed (the database is away): the lease makes the attempt due again
            log.exception("outbound attempt %s of hook %s: not recorded", attempt.id, attempt.hook_id)
        finally:
            self.in_flight[attempt.hook_id] -= 1
            if self.in_flight[attempt.hook_id] <= 0:
                del self.in_flight[attempt.hook_id]

    async def send(self, session: aiohttp.ClientSession, attempt: Claimed) -> Outcome:
        values = await self.keys.read(attempt.tenant, attempt.hook_id, attempt.secret_rotated_at)
        keys = webhook_secrets(values, time.time())
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

    async def write_delivered(self) -> None:
        """Write every 2xx answered so far, until none is left: while one write runs, the next ones gather and go
        together (a delivery costs a share of a statement, not a transaction of its own). A failed write leaves
        its attempts leased: they are due again when the lease ends (at least once)."""
        try:
            while self.delivered:
                batch, self.delivered = self.delivered, []
                try:
                    await write_delivered(self.pool, batch)
                except (OSError, asyncpg.PostgresError):
                    log.exception("outbound: %d deliveries not recorded", len(batch))
        finally:
            self.writer = None

    async def record(self, attempt: Claimed, outcome: Outcome) -> None:
        """Write a try that did not deliver: 410 removes the subscription, anything else backs off (or gives up)."""
        disabled: HookDisabled | None = None
        async with tenant_transaction(self.pool, attempt.tenant) as conn:
            if outcome.status_code == 410:  # Gone: the receiver wants nothing more (its attempts go with it)
                await conn.execute("DELETE FROM hook_subscriptions WHERE id = $1", attempt.hook_id)
            else:
                disabled = await write_failure(conn, attempt, outcome, self.config)
        if outcome.status_code == 410:
            self.keys.forget(attempt.tenant, attempt.hook_id)
            await self.secrets.delete(attempt.tenant, attempt.hook_id)
            log.info("hook %s answered 410 Gone: removed", attempt.hook_id)
        if disabled is not None:
            await self.publisher.publish([disabled])
            log.warning("hook %s disabled: %s", attempt.hook_id, disabled.reason)

"""The outbound webhook dispatcher: delivers the attempts the `outbound` group queued (consumers/outbound.py).

It runs beside the groups in `bizosaas worker`, or alone in `bizosaas dispatcher` (any number of processes: a claimed
attempt is leased, so two never send it at once). Each round:

1. `hook_tenants_due()` (SECURITY DEFINER: tenant ids only) names the tenants with attempts due whose endpoint is
   enabled and not backing off; everything after that runs per tenant, with that tenant set, under row-level
   security, like every other service;
2. per tenant, one statement claims each subscription's oldest due attempts (`FOR UPDATE SKIP LOCKED`) and
   leases them into its lane (consumers/outbound_claims.py): at most `outbound_endpoint_concurrency` being sent per
   subscription in this process and `CLAIM_AHEAD` times that held (the rest waiting: an endpoint's next try starts
   as soon as one ends, not a claim round later), so a slow or dead endpoint holds only its own slots and never
   another's deliveries;
3. each lane has up to `outbound_endpoint_concurrency` senders taking its attempts in turn: sign (Standard
   Webhooks, every current secret, read from Vault once per subscription and rotation: consumers/outbound_secrets.py),
   POST with no redirects followed to public addresses only (connectors/public_http.py; one session, connections
   kept alive per host), then record the outcome: 2xx delivered, written in batches by one writer while the lane
   goes on (the lease covers the attempt until then); 410 the subscription is removed; anything else a failure,
   written before the lane's next try (the endpoint's pause first; the lane's waiting attempts are then handed back,
   due at once but behind that pause), retried with exponential back-off and jitter (the attempt's own, and a pause
   of the whole endpoint) until `outbound_max_age_s` after it was queued, then `failed`. An endpoint failing
   `outbound_disable_after_failures` times in a row with no delivery for `outbound_disable_after_s` is disabled, and
   `hook.disabled.v1` is published.

On start and once an hour, in a task beside the sending, it applies the attempt log's retention: delivered and
failed attempts created more than `outbound_log_retention_s` ago are deleted (pending ones stay, however old).

A worker that dies mid-send leaves its attempts leased; they are due again when the lease ends (at least once; the
webhook-id header, the event id, lets a receiver drop a repeat).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter as Tally
from collections import deque
from dataclasses import dataclass, field

import aiohttp
import asyncpg
from prometheus_client import Counter, Histogram

from connectors.config import ConnectorsConfig
from connectors.credentials import SecretStore, webhook_secrets
from connectors.public_http import public_session, refused_address
from connectors.signatures import standard_webhooks_signature
from consumers.outbound_claims import claim_due, hand_back, prune_attempt_log
from consumers.outbound_outcomes import Claimed, Outcome, retry_after_s, write_delivered, write_failure
from consumers.outbound_secrets import HookSecrets
from db.pool import tenant_transaction
from events.types import HookDisabled
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.outbound")

SENT = Counter("bizosaas_outbound_tries_total", "Outbound webhook tries (one POST each), by outcome", ["outcome"])
SECONDS = Histogram("bizosaas_outbound_try_seconds", "Outbound webhook request time (answered or not)")
SENT_DELIVERED = SENT.labels("delivered")  # the label looked up once: nearly every try counts here

CLAIM_CANDIDATES = 500  # attempts leased at most per tenant and round
CLAIM_AHEAD = 4  # attempts claimed per subscription and in all: this many times what may be sent at once
LEASE_MARGIN_S = 30.0  # a claimed attempt is due again this long after its last possible request's timeout
MAX_TENANTS_PER_ROUND = 1000
ROUND_PAUSE_S = 0.01
PRUNE_EVERY_S = 3600.0  # the attempt log's retention is applied this often (and when the dispatcher starts)
ERROR_MAX_CHARS = 300


@dataclass
class Dispatcher:
    pool: asyncpg.Pool  # the service role's: row-level security applies
    secrets: SecretStore  # the hooks' signing secrets (VaultSecrets with collection="hooks")
    publisher: Publisher
    config: ConnectorsConfig
    in_flight: Tally[str] = field(default_factory=Tally)  # subscription id -> attempts claimed, not yet done
    lanes: dict[str, deque[Claimed]] = field(default_factory=dict)  # subscription id -> attempts waiting to be sent
    senders: Tally[str] = field(default_factory=Tally)  # subscription id -> tasks sending its lane
    tasks: set[asyncio.Task] = field(default_factory=set)
    slots: asyncio.Semaphore = field(init=False)
    freed: asyncio.Event = field(default_factory=asyncio.Event)  # an attempt is done: there is room to claim
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: list[tuple[Claimed, int]] = field(default_factory=list)  # 2xx answers not yet written
    writer: asyncio.Task | None = None  # writing `delivered`, while there is any
    keys: HookSecrets = field(init=False)
    _tenants: list[str] = field(default_factory=list)  # due_tenants' last answer ...
    _tenants_at: float = 0.0  # ... and when (monotonic)
    _pruned_at: float = float("-inf")  # the log's retention last started (monotonic) ...
    pruner: asyncio.Task | None = None  # ... as a task of its own: a first pass over a long log never holds sending

    def __post_init__(self) -> None:
        self.keys = HookSecrets(self.secrets)
        self.slots = asyncio.Semaphore(self.config.outbound_max_in_flight)  # requests in flight, all lanes

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until `stopping` is set, then let the requests in flight finish (their leases cover a crash)."""
        self.stopping = stopping
        timeout = aiohttp.ClientTimeout(total=self.config.outbound_timeout_s)
        # every tenant's deliveries share the session: it keeps no cookie, which would go to another tenant's endpoint
        cap, jar, private = self.config.outbound_max_in_flight, aiohttp.DummyCookieJar(), self.config.allow_private_urls
        async with public_session(private, limit=cap, timeout=timeout, cookie_jar=jar) as session:
            while not stopping.is_set():
                if time.monotonic() - self._pruned_at > PRUNE_EVERY_S and (self.pruner is None or self.pruner.done()):
                    self._pruned_at = time.monotonic()
                    self.pruner = asyncio.create_task(self.prune())
                started = 0
                self.freed.clear()
                if self.room() > 0:
                    try:
                        started = await self.dispatch_once(session)
                    except (OSError, asyncpg.PostgresError) as exc:  # the database is away: try again next round
                        log.warning("outbound dispatcher: %s", type(exc).__name__)
                if not started:
                    await self._idle(stopping)
                else:  # let a few more tries end before the next claim: fewer, fuller claims
                    await asyncio.sleep(ROUND_PAUSE_S)
            if self.pruner is not None:  # a batch cut short rolls back; the next start goes on
                self.pruner.cancel()
                await asyncio.gather(self.pruner, return_exceptions=True)
            if self.tasks:
                await asyncio.wait(self.tasks)
            if self.writer is not None:
                await self.writer

    async def _idle(self, stopping: asyncio.Event) -> None:
        """Nothing could be claimed: wait until a try ends (its endpoint has a free slot again), `stopping` is set,
        or `outbound_poll_s` passes (new attempts, ended back-offs)."""
        stop, freed = asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(self.freed.wait())
        try:
            await asyncio.wait({stop, freed}, timeout=self.config.outbound_poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            freed.cancel()

    async def prune(self) -> None:
        """Apply the attempt log's retention (`outbound_log_retention_s`); a failure waits for the next time."""
        try:
            deleted = await prune_attempt_log(self.pool, self.config.outbound_log_retention_s)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbound attempt log retention: %s", type(exc).__name__)
            return
        if deleted:
            log.info("outbound attempt log retention: %d attempts deleted", deleted)

    def room(self) -> int:
        return self.config.outbound_max_in_flight * CLAIM_AHEAD - self.in_flight.total()

    async def dispatch_once(self, session: aiohttp.ClientSession) -> int:
        """Claim what is due in every tenant and start sending it; the number of attempts started."""
        tenants = await self.due_tenants()
        started = 0
        for tenant in tenants:
            room = self.room()
            if room <= 0:
                break
            for attempt in await self.claim(tenant, room):
                hook = attempt.hook_id
                self.in_flight[hook] += 1
                self.lanes.setdefault(hook, deque()).append(attempt)
                if self.senders[hook] < self.config.outbound_endpoint_concurrency:
                    self.senders[hook] += 1
                    task = asyncio.create_task(self.drain(session, hook))
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
        limit = self.config.outbound_endpoint_concurrency * CLAIM_AHEAD
        # waiting in the lane and for a connection slot (at most CLAIM_AHEAD tries each ahead), then sent
        lease_s = self.config.outbound_timeout_s * (CLAIM_AHEAD + 1) + LEASE_MARGIN_S
        return await claim_due(self.pool, tenant, min(CLAIM_CANDIDATES, room), lease_s, limit, dict(self.in_flight))

    async def drain(self, session: aiohttp.ClientSession, hook: str) -> None:
        """One of a lane's senders: its attempts one after another, until it is empty; after a failure (the
        endpoint now backs off) or when stopping, the waiting attempts are handed back instead."""
        lane, failed = self.lanes[hook], False
        try:
            while lane:  # (no wait between the last look and the end: nothing is left behind with no sender)
                if failed or self.stopping.is_set():
                    await self.hand_back(hook, lane)
                    continue
                # a connection slot first: aiohttp's timeout would count the wait for one (the lease covers it)
                async with self.slots:
                    if lane and not self.stopping.is_set():
                        failed = not await self.deliver(session, lane.popleft())
        finally:
            self.senders[hook] -= 1
            if self.senders[hook] <= 0:
                del self.senders[hook]
                if not lane:
                    del self.lanes[hook]

    async def hand_back(self, hook: str, lane: deque[Claimed]) -> None:
        """Claimed attempts not tried go back: due again at once (behind the endpoint's pause)."""
        waiting = list(lane)
        lane.clear()
        self.done(hook, len(waiting))
        try:
            await hand_back(self.pool, waiting)
        except (OSError, asyncpg.PostgresError):  # their leases end anyway
            log.exception("outbound: %d claimed attempts of hook %s not handed back", len(waiting), hook)

    def done(self, hook: str, n: int = 1) -> None:
        self.in_flight[hook] -= n
        if self.in_flight[hook] <= 0:
            del self.in_flight[hook]
        self.freed.set()

    async def deliver(self, session: aiohttp.ClientSession, attempt: Claimed) -> bool:
        """Send one attempt and record the outcome; whether it was delivered."""
        outcome = Outcome()
        try:
            outcome = await self.send(session, attempt)
            if outcome.delivered:  # written by the writer; the endpoint's slot is free now
                SENT_DELIVERED.inc()
                self.delivered.append((attempt, outcome.status_code or 200))
                if self.writer is None:
                    self.writer = asyncio.create_task(self.write_delivered())
            else:
                SENT.labels(str(outcome.status_code or "error")).inc()
                await self.record(attempt, outcome)
        except Exception:  # recording failed (the database is away): the lease makes the attempt due again
            log.exception("outbound attempt %s of hook %s: not recorded", attempt.id, attempt.hook_id)
        finally:
            self.done(attempt.hook_id)
        return outcome.delivered

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
                error = None if r.status < 300 else f"HTTP {r.status}"
                return Outcome(r.status, error, retry_after_s(r.headers.get("Retry-After")))
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

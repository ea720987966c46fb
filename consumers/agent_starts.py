"""The run starter: hands the run requests the `agents` group queued (`agent_run_requests`, consumers/agents.py) to
the run workflow (agents/temporal/client.py `request_run`, signal-with-start), so that no stream handler waits for
Temporal.

It runs beside the groups in `bizosaas worker` (any number of processes: a claimed row is leased, so two never hand
it over at once). Each round:

1. `agent_run_tenants_due()` (SECURITY DEFINER: tenant ids only) names the tenants with rows due; everything after
   runs per tenant, with that tenant set, under row-level security;
2. per tenant, one short transaction claims due rows (`FOR UPDATE SKIP LOCKED`) and leases them, each tenant at
   most its share of the free slots (`agent_start_in_flight` requests in flight per process), so a tenant's burst
   never holds another tenant's requests back;
3. the claimed rows of one coalescing key become one request_run carrying all their trigger ids; once Temporal
   accepted it the rows are deleted. Temporal unavailable (or any refusal): the rows back off (doubling, with
   jitter) and are handed over again later; while Temporal does not answer the starter also pauses claiming.

A worker killed between the hand-over and the delete leaves its rows leased: they are due again when the lease
ends and signal the same workflow, which counts each trigger id once (agents/temporal/workflows.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import Any

import asyncpg
from prometheus_client import Counter

from agents.runs import RunRequest
from agents.temporal.client import request_run
from connectors.temporal.client import temporal_client
from db.pool import tenant_transaction
from events.errors import is_transient

log = logging.getLogger("bizosaas.agents")

HANDED = Counter("bizosaas_agent_run_requests_total", "Run requests handed to Temporal, by outcome", ["outcome"])

REQUEST_TIMEOUT_S = 30.0  # one request_run; a lease outlives it, so a row is never handed over twice at once
LEASE_S = REQUEST_TIMEOUT_S + 30.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
POLL_S = 1.0  # how often to look for due rows when none were found and no batch of this process queued one
MAX_TENANTS_PER_ROUND = 1000
ERROR_MAX_CHARS = 300

CLAIM = """
WITH due AS (
    SELECT id FROM agent_run_requests WHERE next_attempt_at <= now()
    ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE agent_run_requests r SET next_attempt_at = now() + make_interval(secs => $2), attempts = r.attempts + 1
FROM due WHERE r.id = due.id
RETURNING r.id, r.coalescing_key, r.agent_id, r.subject_kind, r.subject_external_id, r.source, r.trigger_ids,
          r.attempts
"""
DONE = "DELETE FROM agent_run_requests WHERE id = ANY($1::text[])"
BACK_OFF = """
UPDATE agent_run_requests SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
WHERE id = ANY($1::text[])
"""


def backoff_s(attempts: int) -> float:
    """Doubling from BACKOFF_INITIAL_S up to BACKOFF_MAX_S, with jitter (rows failed together spread out)."""
    return min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)


def request_of(tenant: str, rows: list[asyncpg.Record]) -> RunRequest:
    """One run request for rows of one coalescing key: their trigger ids in queueing order, the first row's rest."""
    rows = sorted(rows, key=lambda r: r["id"])  # sortable ids: queueing order
    ids = list(dict.fromkeys(i for r in rows for i in r["trigger_ids"]))
    first = rows[0]
    return RunRequest(
        tenant_id=tenant,
        agent=first["agent_id"],
        trigger_id=ids[0],
        more_trigger_ids=ids[1:],
        subject_kind=first["subject_kind"],
        subject_external_id=first["subject_external_id"],
        source=first["source"],
    )


class RunStarter:
    def __init__(self, pool: asyncpg.Pool, temporal: Any, in_flight: int) -> None:
        self.pool, self.temporal, self.in_flight = pool, temporal, in_flight  # temporal: a Client or LazyTemporal
        self.queued = asyncio.Event()  # set by the agents group of this process after a batch queued requests
        self.tasks: set[asyncio.Task] = set()
        self.pause_s = 0.0  # Temporal did not answer: wait this long before claiming again (doubling) ...
        self.pausing = False  # ... once, after the round that found it away

    async def run(self, stopping: asyncio.Event) -> None:
        """Hand requests over until `stopping` is set, then let those in flight finish (their leases cover a kill)."""
        while not stopping.is_set():
            started = 0
            if len(self.tasks) < self.in_flight:
                try:
                    started = await self.start_once()
                except (OSError, asyncpg.PostgresError) as exc:  # the database is away: try again next round
                    log.warning("agent run starter: %s", type(exc).__name__)
                except Exception:  # a starter that stopped would leave every request queued: log, go on
                    log.exception("agent run starter: round failed; trying again")
                    await self._wait(stopping, POLL_S, watch_tasks=False)
            if self.pausing:
                await self._wait(stopping, self.pause_s, watch_tasks=False)
                self.pausing = False  # failures of requests that ended during the pause did not double it again
            elif not started:
                await self._wait(stopping, POLL_S, watch_tasks=True)
        if self.tasks:
            await asyncio.wait(self.tasks)

    async def _wait(self, stopping: asyncio.Event, timeout_s: float, watch_tasks: bool) -> None:
        """Until `stopping`, this process's group queued requests, a request ended (a slot is free), or timeout."""
        wakers = [asyncio.ensure_future(stopping.wait())]
        if watch_tasks:
            wakers.append(asyncio.ensure_future(self.queued.wait()))
        try:
            await asyncio.wait({*wakers, *(self.tasks if watch_tasks else ())}, timeout=timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            for waker in wakers:
                waker.cancel()
        self.queued.clear()

    async def start_once(self) -> int:
        """Claim what is due in every tenant and start handing it over; the number of requests started."""
        try:
            client = await temporal_client(self.temporal)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._pause(exc)
            return 0
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM agent_run_tenants_due($1)", MAX_TENANTS_PER_ROUND)
        tenants = [r["tenant_id"] for r in rows]
        random.shuffle(tenants)  # no tenant always goes first
        share = max(1, math.ceil((self.in_flight - len(self.tasks)) / max(1, len(tenants))))  # each tenant's, at most
        started = 0
        for tenant in tenants:
            room = self.in_flight - len(self.tasks)
            if room <= 0:
                break
            claimed = await self.claim(tenant, min(room, share))
            by_key: dict[str, list[asyncpg.Record]] = {}
            for row in claimed:
                by_key.setdefault(row["coalescing_key"], []).append(row)
            for same_key in by_key.values():
                task = asyncio.create_task(self.hand_over(client, tenant, same_key))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                started += 1
        return started

    async def claim(self, tenant: str, limit: int) -> list[asyncpg.Record]:
        async with tenant_transaction(self.pool, tenant) as conn:
            return await conn.fetch(CLAIM, limit, LEASE_S)

    async def hand_over(self, client: Any, tenant: str, rows: list[asyncpg.Record]) -> None:
        ids = [r["id"] for r in rows]
        request = request_of(tenant, rows)
        try:
            try:
                await asyncio.wait_for(request_run(client, request), REQUEST_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - any refusal: the rows are kept and handed over again later
                HANDED.labels("retried").inc()
                transient = is_transient(exc) or isinstance(exc, TimeoutError)
                if transient:
                    self._pause(exc)
                else:
                    log.error("run request %s of tenant %s refused by Temporal: %s", ids[0], tenant, exc)
                error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
                async with tenant_transaction(self.pool, tenant) as conn:
                    await conn.execute(BACK_OFF, ids, backoff_s(max(r["attempts"] for r in rows)), error)
                return
            self.pause_s = 0.0
            HANDED.labels("accepted").inc()
            async with tenant_transaction(self.pool, tenant) as conn:
                await conn.execute(DONE, ids)
        except (OSError, asyncpg.PostgresError):  # not recorded: the lease makes the rows due again
            log.exception("run request %s of tenant %s: outcome not recorded", ids[0], tenant)

    def _pause(self, exc: BaseException) -> None:
        """Stop claiming for a while; the requests of one round that all failed double the pause once."""
        if self.pausing:
            return
        self.pause_s, self.pausing = min(BACKOFF_MAX_S, max(BACKOFF_INITIAL_S, self.pause_s * 2)), True
        log.warning("agent run starter: Temporal unavailable (%s); claiming again in %.0f s", exc, self.pause_s)

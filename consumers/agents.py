"""The agents group: which events wake an agent. It evaluates trigger rules only — no language model, no I/O per
event — and asks the run workflow for a run (agents/temporal/client.py `request_run`) for each trigger that holds.

Per batch and tenant: the tenant's enabled agents (agent_settings under row-level security, cached per tenant for
SETTINGS_TTL_S, so a change takes effect within that time), the catalog agents with a trigger on the event's type
(an index built once), `agents.triggers.matches` on the entity's data as a dict. The matching events are recorded in
the group's inbox (`group_inbox`) in the batch's transaction, and their runs are requested before it commits: a
Temporal that does not answer rolls the inbox back and the runtime delivers the batch again (transient), and a
redelivered event that was recorded starts nothing. (Requesting after the commit would lose the trigger whenever
Temporal is down; a crash between the request and the commit requests it twice, which request_run coalesces.)
Only matching events are recorded, so the inbox grows with runs, not with the event stream.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import asyncpg
import msgspec
from prometheus_client import Counter

from agents.catalog import AgentSpec, catalog
from agents.runs import RunRequest
from agents.triggers import matches, unversioned
from connectors.lru import MISSING, ExpiringLru
from connectors.temporal.client import temporal_client
from consumers.agent_runners import agents_temporal
from consumers.entry import Entry
from consumers.group import Batch, Group
from consumers.inbox import first_seen
from events.streams import all_event_streams
from events.types import EVENT_TYPES

GROUP = "agents"
SETTINGS_TTL_S = 5.0  # how long a tenant's enabled agents are reused before they are read again
SETTINGS_CACHE_TENANTS = 10_000

log = logging.getLogger("bizosaas.agents")
TRIGGERED = Counter(
    "bizosaas_agent_triggers_total", "Events that matched a trigger of an enabled agent (a run asked for)", ["agent"]
)


@functools.cache
def agents_by_event() -> dict[str, tuple[AgentSpec, ...]]:
    """Event type without its version -> the catalog agents with a trigger on it."""
    index: dict[str, list[AgentSpec]] = {}
    for spec in catalog().values():
        for event in sorted({t.event for t in spec.triggers}):
            index.setdefault(event, []).append(spec)
    return {event: tuple(specs) for event, specs in index.items()}


def wanted_types() -> frozenset[str]:
    """The event types some agent's trigger names: the runtime drops (and acknowledges) every other type unseen."""
    return frozenset(tag for t in EVENT_TYPES if unversioned(tag := t.__struct_config__.tag) in agents_by_event())


class EnabledAgents:
    """Per tenant, the ids of the catalog agents it enabled, read under its row-level security and kept briefly."""

    def __init__(self, ttl_s: float = SETTINGS_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._held: ExpiringLru[frozenset[str]] = ExpiringLru(SETTINGS_CACHE_TENANTS)

    async def of(self, conn: asyncpg.Connection, tenant: str) -> frozenset[str]:
        held = self._held.get(tenant)
        if held is not MISSING:
            return held  # type: ignore[return-value]
        known = catalog()
        ids = set()
        for row in await conn.fetch("SELECT agent_id FROM agent_settings WHERE enabled ORDER BY agent_id"):
            if row["agent_id"] in known:
                ids.add(row["agent_id"])
            else:
                log.warning("tenant %s enables agent %r, which the catalog does not hold: skipped", tenant, row[0])
        enabled = frozenset(ids)
        self._held.put(tenant, enabled, self.ttl_s)
        return enabled


def run_requests(entries: list[Entry], enabled: frozenset[str]) -> list[RunRequest]:
    """A RunRequest per (event, enabled agent) whose trigger holds on the event's entity."""
    requests = []
    for entry in entries:
        event = entry.message
        candidates = [s for s in agents_by_event().get(unversioned(event.type), ()) if s.id in enabled]
        if not candidates:
            continue
        data: Any = msgspec.to_builtins(getattr(event, "data", None) or {})
        for spec in candidates:
            if matches(spec, event.type, data):
                requests.append(
                    RunRequest(
                        tenant_id=event.tenant_id,
                        agent=spec.id,
                        trigger_id=event.id,
                        subject_kind=event.subject.kind,
                        subject_external_id=event.subject.external_id,
                        source=event.source,
                    )
                )
    return requests


def agents_group(pool: asyncpg.Pool, partitions: int, temporal: Any, ttl_s: float = SETTINGS_TTL_S) -> Group:
    """`temporal`: a temporalio Client or a LazyTemporal (None: matching batches wait, transient, for one)."""
    settings = EnabledAgents(ttl_s)

    async def handle(conn: asyncpg.Connection, tenant: str, entries: list[Entry], batch: Batch) -> list[RunRequest]:
        enabled = await settings.of(conn, tenant)
        requests = run_requests(entries, enabled) if enabled else []
        if not requests:
            return []
        # one request per (event, agent), for events this group has not recorded before (a redelivery, a replay)
        unique = list({(r.trigger_id, r.agent): r for r in requests}.values())
        fresh = await first_seen(conn, GROUP, sorted({r.trigger_id for r in unique}))
        return [r for r in unique if r.trigger_id in fresh]

    async def request_runs(conn: asyncpg.Connection, batch: Batch) -> None:
        requests = [r for tenant_requests in batch.results.values() for r in tenant_requests]
        if requests:
            client = await temporal_client(temporal)
            request_run = agents_temporal().request_run
            await asyncio.gather(*(request_run(client, r) for r in requests))

    async def count(batch: Batch) -> None:
        for tenant_requests in batch.results.values():
            for r in tenant_requests:
                TRIGGERED.labels(r.agent).inc()

    return Group(
        GROUP,
        all_event_streams(partitions),
        handle,
        pool,
        types=wanted_types(),
        before_commit=request_runs,
        after_commit=count,
    )

"""The agents group: which events wake an agent. It evaluates trigger rules only — no language model, no I/O per
event — and queues a run request (`agent_run_requests`, the group's outbox) for each trigger that holds.

Per batch and tenant: the tenant's enabled agents (agent_settings under row-level security, cached per tenant for
SETTINGS_TTL_S, so a change takes effect within that time), the catalog agents with a trigger on the event's type
(an index built once), `agents.triggers.matches` on the entity's data as a dict. The matching events are recorded in
the group's inbox (`group_inbox`) and their run requests written in the batch's transaction — the triggers of one
agent x subject (coalescing key) in the batch folded into one row with all their ids — so a redelivered event that
was recorded queues nothing, and nothing is lost whatever crashes. The run starter (consumers/agent_starts.py, in
`bizosaas worker` beside the groups) hands the rows to Temporal: a stream handler never waits for it, so the group
runs at the rules' speed, not at Temporal's signal-with-start rate (docs/benchmarks.md). Only matching events are
recorded, so the inbox grows with runs, not with the event stream.
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
from agents.runs import RunRequest, coalescing_key
from agents.triggers import matches, unversioned
from connectors.lru import MISSING, ExpiringLru
from consumers.entry import Entry
from consumers.group import Batch, Group
from consumers.inbox import first_seen
from events.ids import new_id
from events.streams import all_event_streams
from events.types import EVENT_TYPES

GROUP = "agents"
SETTINGS_TTL_S = 5.0  # how long a tenant's enabled agents are reused before they are read again
SETTINGS_CACHE_TENANTS = 10_000
UNIT_SEPARATOR = chr(31)

log = logging.getLogger("bizosaas.agents")
TRIGGERED = Counter(
    "bizosaas_agent_triggers_total", "Events that matched a trigger of an enabled agent (a run asked for)", ["agent"]
)

QUEUE_REQUESTS = """
INSERT INTO agent_run_requests (tenant_id, id, coalescing_key, agent_id, subject_kind, subject_external_id, source,
                                trigger_ids)
SELECT current_setting('app.tenant_id'), x.id, x.key, x.agent, x.kind, x.external_id, x.source,
       string_to_array(x.trigger_ids, chr(31))
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    AS x(id, key, agent, kind, external_id, source, trigger_ids)
"""


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


def folded(requests: list[RunRequest]) -> list[RunRequest]:
    """One request per coalescing key, carrying every trigger id of that key in order (the first is its trigger)."""
    by_key: dict[str, list[RunRequest]] = {}
    for r in requests:
        by_key.setdefault(coalescing_key(r), []).append(r)
    return [
        msgspec.structs.replace(same[0], more_trigger_ids=[r.trigger_id for r in same[1:]]) for same in by_key.values()
    ]


async def queue_requests(conn: asyncpg.Connection, requests: list[RunRequest]) -> None:
    """The outbox rows of the transaction's tenant (the trigger ids joined by the unit separator, which no id holds:
    one text array per row goes through unnest)."""
    rows = [
        (
            "arq_" + new_id(),
            coalescing_key(r),
            r.agent,
            r.subject_kind,
            r.subject_external_id,
            r.source,
            UNIT_SEPARATOR.join([r.trigger_id, *r.more_trigger_ids]),
        )
        for r in requests
    ]
    await conn.execute(QUEUE_REQUESTS, *map(list, zip(*rows)))


def agents_group(
    pool: asyncpg.Pool, partitions: int, ttl_s: float = SETTINGS_TTL_S, queued: asyncio.Event | None = None
) -> Group:
    """`queued`: set after a batch committed run requests (the run starter in the same process wakes on it)."""
    settings = EnabledAgents(ttl_s)

    async def handle(conn: asyncpg.Connection, tenant: str, entries: list[Entry], batch: Batch) -> list[RunRequest]:
        enabled = await settings.of(conn, tenant)
        requests = run_requests(entries, enabled) if enabled else []
        if not requests:
            return []
        # one request per (event, agent), for events this group has not recorded before (a redelivery, a replay)
        unique = list({(r.trigger_id, r.agent): r for r in requests}.values())
        fresh = await first_seen(conn, GROUP, sorted({r.trigger_id for r in unique}))
        fresh_requests = [r for r in unique if r.trigger_id in fresh]
        if fresh_requests:
            await queue_requests(conn, folded(fresh_requests))
        return fresh_requests

    async def count(batch: Batch) -> None:
        asked = False
        for tenant_requests in batch.results.values():
            for r in tenant_requests:
                TRIGGERED.labels(r.agent).inc()
                asked = True
        if asked and queued is not None:
            queued.set()

    return Group(GROUP, all_event_streams(partitions), handle, pool, types=wanted_types(), after_commit=count)

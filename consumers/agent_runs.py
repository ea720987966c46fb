"""The `agent_runs` projection: one row per agent run, from the agent.run.* events (events/types.py), kept by the
projector in its batch's transaction and rebuilt from `event_log` with the records (consumers/rebuild.py).

Events of one run may arrive late, twice or out of order (a replay, a redelivery, activities on two workers). Each
event writes the fields it carries; the status moves only forward: by rank (deferred and started 1, awaiting approval
2, completed and failed 3), then by the time of the event that set it (a run deferred, then started, is `started`).
So a `started` seen after `completed` adds its inputs and start time and leaves the run `completed`; the output of a
completed run is never replaced by the one it proposed while awaiting approval.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
import msgspec

from events.types import (
    AgentRunAwaitingApproval,
    AgentRunCompleted,
    AgentRunDeferred,
    AgentRunFailed,
    AgentRunStarted,
    Event,
)

RANK = {"deferred": 1, "started": 1, "awaiting_approval": 2, "completed": 3, "failed": 3}
RUN_EVENTS = (AgentRunStarted, AgentRunDeferred, AgentRunAwaitingApproval, AgentRunCompleted, AgentRunFailed)
RUN_EVENT_TYPES = frozenset(t.__struct_config__.tag for t in RUN_EVENTS)

_encode = msgspec.json.Encoder().encode
_NEWER = "(excluded.status_rank, excluded.status_at) >= (r.status_rank, r.status_at)"
_STATUS = ", ".join(
    f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE r.{c} END" for c in ("status", "status_rank", "status_at")
)
_FINISHED = "r.status_rank < 3 OR excluded.status_rank = 3"  # what awaiting approval proposed: not over an outcome


def _sql(columns: tuple[str, ...], updates: str) -> str:
    """An upsert of the run's row: the common columns ($1-$7), then the event's own ($8 ...)."""
    names = ("tenant_id", "run_id", "agent", "status", "status_rank", "status_at", "source", *columns)
    values = ", ".join(f"${i + 1}" for i in range(len(names)))
    return f"""
INSERT INTO agent_runs AS r ({", ".join(names)}) VALUES ({values})
ON CONFLICT (tenant_id, run_id) DO UPDATE SET {_STATUS}, {updates}, updated_at = now()"""


_SPENT = "tokens_in, tokens_out, cost_micro_usd, latency_ms, finished_at"
_SPENT_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _SPENT.split(", "))

SQL: dict[type[Event], str] = {
    AgentRunStarted: _sql(
        ("trigger_id", "triggers", "subject_kind", "subject_external_id", "inputs", "started_at"),
        "trigger_id = excluded.trigger_id, triggers = greatest(r.triggers, excluded.triggers), "
        "subject_kind = excluded.subject_kind, subject_external_id = excluded.subject_external_id, "
        "inputs = excluded.inputs, started_at = least(r.started_at, excluded.started_at)",
    ),
    AgentRunDeferred: _sql(("reason",), "reason = excluded.reason"),
    AgentRunAwaitingApproval: _sql(
        ("output", "actions", "citations", "expires_at"),
        f"output = CASE WHEN {_FINISHED} THEN excluded.output ELSE r.output END, actions = excluded.actions, "
        f"citations = CASE WHEN {_FINISHED} THEN excluded.citations ELSE r.citations END, "
        "expires_at = excluded.expires_at",
    ),
    AgentRunCompleted: _sql(
        ("output", "citations", "decision", "commands", *_SPENT.split(", ")),
        "output = excluded.output, citations = excluded.citations, decision = excluded.decision, "
        f"commands = excluded.commands, {_SPENT_UPDATE}",
    ),
    AgentRunFailed: _sql(("error", *_SPENT.split(", ")), f"error = excluded.error, {_SPENT_UPDATE}"),
}


def _json(value) -> str:
    return _encode(value).decode()


def _own_values(e: Event) -> tuple:
    """The values of the event's own columns, in SQL's order."""
    match e:
        case AgentRunStarted():
            subject = (e.subject_kind, e.subject_external_id)
            return (e.trigger_id, e.triggers, *subject, _json(e.inputs), e.occurred_at)
        case AgentRunDeferred():
            return (e.reason,)
        case AgentRunAwaitingApproval():
            return (_json(e.output), _json(e.actions), _json(e.citations), e.expires_at)
        case AgentRunCompleted():
            spent = (e.tokens_in, e.tokens_out, e.cost_micro_usd, e.latency_ms, e.occurred_at)
            return (_json(e.output), _json(e.citations), e.decision, _json(e.commands), *spent)
        case AgentRunFailed():
            return (e.error, e.tokens_in, e.tokens_out, e.cost_micro_usd, e.latency_ms, e.occurred_at)
    raise TypeError(f"not an agent run event: {type(e).__name__}")


STATUS = {
    AgentRunStarted: "started",
    AgentRunDeferred: "deferred",
    AgentRunAwaitingApproval: "awaiting_approval",
    AgentRunCompleted: "completed",
    AgentRunFailed: "failed",
}


async def project_agent_runs(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    """The agent run events among these onto `agent_runs` (each event's own tenant: the projector's transaction has
    it set, a rebuild runs as the owner)."""
    for e in events:
        status = STATUS.get(type(e))
        if status is None:
            continue
        common = (e.tenant_id, e.run_id, e.agent, status, RANK[status], e.occurred_at, e.source)  # type: ignore[attr-defined]
        await conn.execute(SQL[type(e)], *common, *_own_values(e))

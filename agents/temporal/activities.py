"""The run workflow's activities: all its I/O. The tenant's settings and budget from Postgres (row-level security),
the run's events through the Publisher (an idempotency key per run and kind, so a retried activity publishes once),
the crew in a thread while the activity heartbeats, and approved actions as connector.action.v1 commands."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import msgspec
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents import metrics
from agents.actions import issue_action
from agents.budget import budget_refusal, runs_in_progress
from agents.catalog import catalog
from agents.config import NO_MODEL, AgentRunConfig, cost_micro_usd, llm_configured
from agents.temporal.shared import (
    Admission,
    CrewInput,
    CrewResult,
    FinishInput,
    IssueInput,
    Policy,
    PublishInput,
    RunRef,
)
from agents.tenant_settings import load_agent_state, load_tenant_limits
from db.pool import tenant_transaction
from events.ids import new_id
from events.types import (
    AgentRunAwaitingApproval,
    AgentRunCompleted,
    AgentRunDeferred,
    AgentRunFailed,
    AgentRunStarted,
)
from producers.publisher import Publisher
from rag.retrieval import Searcher, SearchUnavailable, as_context, retrieve

HEARTBEAT_EVERY_S = 2.0  # well inside the heartbeat timeout (workflows.py)
EVENTS = {
    "started": AgentRunStarted,
    "deferred": AgentRunDeferred,
    "awaiting_approval": AgentRunAwaitingApproval,
    "completed": AgentRunCompleted,
    "failed": AgentRunFailed,
}


@dataclass(frozen=True)
class AgentDeps:
    pool: asyncpg.Pool
    publisher: Publisher
    config: AgentRunConfig  # Settings in the worker
    searcher: Searcher | None = None


class AgentActivities:
    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    def all(self) -> list:
        return [self.load_policy, self.admit, self.release, self.publish, self.run_crew, self.issue_actions]

    @activity.defn(name="agents.load_policy")
    async def load_policy(self, ref: RunRef) -> Policy:
        spec, config = catalog()[ref.agent], self.deps.config
        async with tenant_transaction(self.deps.pool, ref.tenant_id) as conn:
            state = await load_agent_state(conn, spec)  # the rule the gateway shows the tenant
        return Policy(
            coalesce_s=config.agent_coalesce_s,
            approval_expiry_s=config.agent_approval_expiry_s,
            run_timeout_s=config.agent_run_timeout_s,
            defer_retry_s=config.agent_defer_retry_s,
            autonomy=state.autonomy,
            act_without_approval=state.act_without_approval,
        )

    @activity.defn(name="agents.admit")
    async def admit(self, ref: RunRef) -> Admission:
        """Take a concurrency slot if the tenant is under both limits (one admission at a time per tenant: an
        advisory lock). Idempotent: a run admitted already (a retried activity) stays admitted."""
        config = self.deps.config
        async with tenant_transaction(self.deps.pool, ref.tenant_id) as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('agent-admit:' || $1))", ref.tenant_id)
            if await conn.fetchval("SELECT true FROM agent_run_usage WHERE run_id = $1", ref.run_id):
                return Admission(True)
            limits = await load_tenant_limits(conn, config)  # the tenant's, never above the deployment's
            slots = limits.max_concurrent_runs
            if refused := await budget_refusal(conn, limits):  # chat turns count too (agents/budget.py)
                return Admission(False, refused)
            running = await runs_in_progress(conn, config.agent_run_timeout_s)
            if running >= slots:
                return Admission(False, f"{running} runs are in progress, the tenant's limit is {slots}")
            await conn.execute(
                "INSERT INTO agent_run_usage (tenant_id, run_id, agent_id) VALUES ($1, $2, $3)",
                ref.tenant_id,
                ref.run_id,
                ref.agent,
            )
        return Admission(True)

    @activity.defn(name="agents.release")
    async def release(self, done: FinishInput) -> None:
        """Free the run's slot and count its tokens (once: a retry finds it released); record the metrics."""
        async with tenant_transaction(self.deps.pool, done.tenant_id) as conn:
            updated = await conn.fetchval(
                "UPDATE agent_run_usage SET released_at = now(), tokens = $2 "
                "WHERE run_id = $1 AND released_at IS NULL RETURNING true",
                done.run_id,
                done.tokens,
            )
        if updated:
            metrics.RUNS.labels(done.agent, "failed" if done.failed else "answered").inc()
            metrics.LATENCY.labels(done.agent).observe(done.latency_ms / 1000)

    @activity.defn(name="agents.publish")
    async def publish(self, what: PublishInput) -> str:
        now = datetime.now(UTC)
        event = msgspec.convert(
            {
                **what.fields,
                "type": EVENTS[what.kind].__struct_config__.tag,
                "id": new_id(),
                "tenant_id": what.tenant_id,
                "source": what.source or "agents",
                "subject": {"kind": "agent_run", "external_id": what.run_id},
                "occurred_at": now,
                "recorded_at": now,
            },
            EVENTS[what.kind],
            strict=False,
        )
        key = f"agent-run:{what.run_id}:{what.kind}{what.key_suffix}"
        published = (await self.deps.publisher.publish([event], [key]))[0]
        return published.event_id

    @activity.defn(name="agents.run_crew")
    async def run_crew(self, what: CrewInput) -> CrewResult:
        """Gather the context, run the crew in a thread, heartbeat meanwhile. The crew's thread cannot be cancelled:
        past the timeout Temporal gives up on this attempt, and its late answer is dropped with the attempt."""
        from agents.crew import NoLanguageModel, run_crew  # CrewAI: imported in the activity worker only
        from agents.tools import ToolContext, Trace, tools_for

        config, spec = self.deps.config, catalog()[what.agent]
        if not llm_configured(config):
            raise ApplicationError(NO_MODEL, type="NoLanguageModel", non_retryable=True)
        trace = Trace()
        loop = asyncio.get_running_loop()
        ctx = ToolContext(what.tenant_id, spec, self.deps.pool, loop, self.deps.searcher, trace)
        context = await self._context(what, spec, trace)
        crew = asyncio.ensure_future(asyncio.to_thread(run_crew, spec, config, tools_for(ctx), context))
        while not crew.done():
            activity.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(crew), HEARTBEAT_EVERY_S)
        try:
            answer = crew.result()
        except NoLanguageModel as exc:
            raise ApplicationError(str(exc), type="NoLanguageModel", non_retryable=True) from None
        metrics.TOKENS.labels(what.agent, "in").inc(answer.tokens_in)
        metrics.TOKENS.labels(what.agent, "out").inc(answer.tokens_out)
        await self._keep_trace(what, trace, answer)
        return CrewResult(
            output=answer.output or {},
            citations=list(trace.citations.values()),
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            cost_micro_usd=cost_micro_usd(config, answer.tokens_in, answer.tokens_out),
            error=answer.error,
        )

    async def _context(self, what: CrewInput, spec, trace) -> str:
        """The run's context for the task: the subject record (read under RLS), search hits, people's words."""
        parts = []
        if what.subject_kind:
            async with tenant_transaction(self.deps.pool, what.tenant_id) as conn:
                row = await conn.fetchrow(
                    "SELECT id, kind, source, external_id, title, status, data FROM records "
                    "WHERE kind = $1 AND external_id = $2 AND NOT deleted ORDER BY updated_at DESC LIMIT 1",
                    what.subject_kind,
                    what.subject_external_id,
                )
            if row is None:
                parts.append(f"The subject is {what.subject_kind} {what.subject_external_id} (no record of it yet).")
            else:
                trace.cite(row["id"], row["kind"], row["source"], row["external_id"], row["title"])
                parts.append(
                    f"The subject is {row['kind']} {row['external_id']} from {row['source']} "
                    f"(record {row['id']}, status {row['status']}): {row['data']}"
                )
        if spec.reads.knowledge and self.deps.searcher is not None:
            query = f"{spec.name} {what.subject_kind} {what.subject_external_id} {' '.join(what.prompts)}".strip()
            try:
                found = await retrieve(self.deps.searcher, what.tenant_id, query, spec.id, 5)
            except SearchUnavailable:
                found = []
            for c in found:
                trace.cite(c.record_id, c.kind, c.source, c.external_id, c.title)
            if found:
                parts.append("Passages from the tenant's knowledge, cite them as [n]:\n" + as_context(found))
        parts += [f"A person asks: {p}" for p in what.prompts if p]
        if what.inputs:
            parts.append(f"Inputs: {json.dumps(what.inputs, default=str)}")
        return "\n\n".join(parts)

    async def _keep_trace(self, what: CrewInput, trace, answer) -> None:
        body = {
            "steps": trace.steps,
            "attempts": answer.attempts,
            "raw_answer": answer.raw[:20_000],
            "error": answer.error,
            "tokens_in": answer.tokens_in,
            "tokens_out": answer.tokens_out,
        }
        async with tenant_transaction(self.deps.pool, what.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO agent_run_traces (tenant_id, run_id, agent_id, trace) VALUES ($1, $2, $3, $4::jsonb) "
                "ON CONFLICT (tenant_id, run_id) DO UPDATE SET trace = EXCLUDED.trace, recorded_at = now()",
                what.tenant_id,
                what.run_id,
                what.agent,
                json.dumps(body, default=str),
            )

    @activity.defn(name="agents.issue_actions")
    async def issue_actions(self, what: IssueInput) -> list[str]:
        """Each action as a connector.action.v1 command (ids derived from the run and the action's position, so a
        retry issues nothing twice); answers the ids issued. An action that cannot be issued is skipped by name."""
        issued = []
        for n, action in enumerate(what.actions):
            command_id = "cmd_" + hashlib.sha256(f"{what.run_id}:{what.batch}:{n}".encode()).hexdigest()[:26]
            if await issue_action(self.deps.pool, self.deps.publisher, what, action, command_id):
                issued.append(command_id)
        return issued

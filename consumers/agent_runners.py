"""The command runners of agent runs (registered in consumers/commands.py's RUNNERS):

- `agent.run.v1` (POST /v1/agents/{agent}/runs): a RunRequest whose trigger is the command, handed to the run
  workflow (`request_run`: signal-with-start; the command id makes a redelivered command start nothing new);
  `completed` once the run is asked for. An agent not in the catalog, or not enabled for the tenant, fails the
  command with that reason.
- `agent.run.decide.v1` (POST /v1/agent-runs/{id}/approve|reject): the decision, signalled to the run (`decide_run`).

Both reach Temporal through RunnerContext.temporal; a Temporal that does not answer leaves the command pending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.catalog import catalog
from agents.runs import RunRequest
from connectors.temporal.client import temporal_client
from db.pool import tenant_transaction
from events.commands import DecideAgentRun, RunAgent
from events.errors import PermanentError

if TYPE_CHECKING:
    from consumers.commands import RunnerContext


def agents_temporal() -> Any:
    """agents/temporal/client.py (request_run, decide_run). Imported on first use: it lands with the run workflow
    (branch agent-runs), and the other groups and runners must load without it."""
    from agents.temporal import client

    return client


async def enabled_agent(ctx: RunnerContext, tenant_id: str, agent: str) -> None:
    """Raise PermanentError unless `agent` is in the catalog and enabled for the tenant (a missing row: disabled)."""
    if agent not in catalog():
        raise PermanentError(f"no agent {agent!r} in the catalog (GET /v1/agents lists them)")
    async with tenant_transaction(ctx.pool, tenant_id) as conn:
        enabled = await conn.fetchval("SELECT enabled FROM agent_settings WHERE agent_id = $1", agent)
    if not enabled:
        raise PermanentError(f"agent {agent!r} is not enabled for this tenant (PATCH /v1/agents/{agent})")


async def run_agent(command: RunAgent, ctx: RunnerContext) -> str:
    await enabled_agent(ctx, command.tenant_id, command.agent)
    request = RunRequest(
        tenant_id=command.tenant_id,
        agent=command.agent,
        trigger_id=command.id,
        prompt=command.prompt,
        inputs=dict(command.inputs),
    )
    client = await temporal_client(ctx.temporal)
    workflow_id = await agents_temporal().request_run(client, request)
    return f"requested {workflow_id}"


async def decide(command: DecideAgentRun, ctx: RunnerContext) -> str:
    client = await temporal_client(ctx.temporal)
    by = command.issued_by or "api"
    await agents_temporal().decide_run(client, command.tenant_id, command.run_id, command.approved, by, command.reason)
    return f"{'approved' if command.approved else 'rejected'} run {command.run_id}"


AGENT_RUNNERS = {
    RunAgent.__struct_config__.tag: run_agent,
    DecideAgentRun.__struct_config__.tag: decide,
}

"""What the agents group and the command runners call: ask for a run (signal-with-start on the coalescing key), and
decide a run that awaits approval (a workflow update, so a decision on a run that is not waiting fails at once)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from agents.runs import RunRequest, run_workflow_id
from agents.temporal.shared import (
    DECIDE_UPDATE,
    RUN_WORKFLOW,
    TASK_QUEUE,
    TRIGGER_SIGNAL,
    Decision,
    RunInput,
    TriggerIn,
    workflow_of,
)
from connectors.temporal.client import TemporalUnavailable
from events.errors import PermanentError

DECIDE_TIMEOUT = timedelta(seconds=30)  # a worker must answer the update; none up: TemporalUnavailable


class RunNotAwaitingApproval(PermanentError):
    """The run is unknown to this tenant, finished, or not (or no longer) waiting for a decision (answer 409/404)."""


async def request_run(client: Client, request: RunRequest) -> str:
    """Ask for a run of `request.agent` about its subject; answers the run workflow's id.

    Signal-with-start on `run_workflow_id(request)`: the first request of a coalescing key starts the workflow, which
    waits `agent_coalesce_s` for more; a request arriving while it runs (a redelivered trigger, the tenth update of
    one order) only signals it — triggers are counted once per trigger id (`more_trigger_ids` too: a request folding
    several events of one subject), never start a second run. A request after the run finished starts the next run.
    Raises TemporalUnavailable (transient) when Temporal does not answer."""
    workflow_id = run_workflow_id(request)
    more = list(request.more_trigger_ids)
    trigger = TriggerIn(request.trigger_id, request.source, request.prompt, dict(request.inputs), more)
    try:
        await client.start_workflow(
            RUN_WORKFLOW,
            RunInput(request.tenant_id, request.agent, request.subject_kind, request.subject_external_id),
            id=workflow_id,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=TRIGGER_SIGNAL,
            start_signal_args=[trigger],
        )
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED):
            raise TemporalUnavailable(f"Temporal: {exc.message}") from None
        raise
    return workflow_id


async def decide_run(client: Client, tenant_id: str, run_id: str, approved: bool, by: str, reason: str = "") -> None:
    """Approve or reject a run that awaits approval (agent.run.awaiting_approval.v1). `by` is who decided (an API key
    id or a JWT subject), `reason` is kept with the decision. Approved: the workflow issues the proposed actions as
    connector.action.v1 commands; rejected: nothing. Returns once the workflow accepted the decision.

    Raises RunNotAwaitingApproval when the run is not this tenant's, does not exist, finished (approved, rejected or
    expired already) or is not waiting; TemporalUnavailable when Temporal or the agents worker does not answer."""
    try:
        run_tenant, workflow_id, temporal_run_id = workflow_of(run_id)
    except ValueError:
        raise RunNotAwaitingApproval(f"no agent run {run_id!r}") from None
    if run_tenant != tenant_id:  # the id names its tenant: another tenant's run is "not found", never decided
        raise RunNotAwaitingApproval(f"no agent run {run_id!r}")
    handle = client.get_workflow_handle(workflow_id, run_id=temporal_run_id)
    try:
        await handle.execute_update(DECIDE_UPDATE, Decision(approved, by, reason), rpc_timeout=DECIDE_TIMEOUT)
    except WorkflowUpdateFailedError as exc:  # the validator refused: the run is not waiting for a decision
        message = exc.cause.message if exc.cause is not None and hasattr(exc.cause, "message") else str(exc)
        raise RunNotAwaitingApproval(f"agent run {run_id} {message}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RunNotAwaitingApproval(f"agent run {run_id} has finished or does not exist") from None
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED):
            raise TemporalUnavailable(f"Temporal: {exc.message}") from None
        raise

"""Starting connector workflows (the command runners, and the connect workflow's activity): signal-with-start, so a
request for a resource whose sync is running joins it (runs right after it) instead of running alongside."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from connectors.temporal.shared import (
    ACTION_WORKFLOW,
    CONNECT_WORKFLOW,
    DISCONNECT_WORKFLOW,
    SCHEDULED_SYNC_WORKFLOW,
    SYNC_NOW_SIGNAL,
    SYNC_WORKFLOW,
    TASK_QUEUE,
    USAGE_PUSH_SCHEDULE,
    USAGE_PUSH_WORKFLOW,
    ActionInput,
    ConnectorRef,
    DisconnectInput,
    DisconnectResult,
    SyncAllInput,
    SyncInput,
    SyncNow,
    UsagePushInput,
    action_workflow_id,
    connect_workflow_id,
    disconnect_workflow_id,
    schedule_id,
    schedule_offset_s,
    sync_workflow_id,
)
from events.errors import TransientError

# longer than ConnectorDisconnect takes with a provider down (two steps of 4 attempts of a 10 s request, and back-off)
DISCONNECT_WAIT_S = 180.0


class TemporalUnavailable(TransientError):
    """No Temporal frontend answers at the configured address: the command stays pending and is retried."""


@contextlib.asynccontextmanager
async def _reachable(address: str = "") -> AsyncIterator[None]:
    """A frontend that is down or overloaded is transient; any other refusal stays an RPCError."""
    try:
        yield
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED):
            raise TemporalUnavailable(f"Temporal {address}: {exc.message}") from None
        raise


async def start_sync(client: Client, tenant_id: str, connector_id: str, resource: str, full: bool = False) -> str:
    """Run a sync of one resource now, or right after the run in progress; answers the workflow id."""
    workflow_id = sync_workflow_id(connector_id, resource)
    async with _reachable():
        await client.start_workflow(
            SYNC_WORKFLOW,
            SyncInput(tenant_id, connector_id, resource, full=full, pending=True),
            id=workflow_id,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=SYNC_NOW_SIGNAL,
            start_signal_args=[SyncNow(full)],
        )
    return workflow_id


async def start_connect(client: Client, tenant_id: str, connector_id: str) -> str:
    """Test the connection, then the initial (full) sync of every resource."""
    workflow_id = connect_workflow_id(connector_id)
    async with _reachable():
        await client.start_workflow(
            CONNECT_WORKFLOW,
            ConnectorRef(tenant_id, connector_id),
            id=workflow_id,
            task_queue=TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # a set-up in progress answers for both
        )
    return workflow_id


async def run_action(client: Client, tenant_id: str, connector_id: str, action: str, values: dict, id: str) -> dict:
    return await client.execute_workflow(
        ACTION_WORKFLOW, ActionInput(tenant_id, connector_id, action, values), id=id, task_queue=TASK_QUEUE
    )


async def start_action(client: Client, command_id: str, input: ActionInput) -> tuple[str, bool]:
    """Start the action's workflow, id derived from the command: (workflow id, whether this call started it). A
    redelivered command finds the workflow running or finished and starts nothing (REJECT_DUPLICATE)."""
    workflow_id = action_workflow_id(command_id)
    try:
        async with _reachable():
            await client.start_workflow(
                ACTION_WORKFLOW,
                input,
                id=workflow_id,
                task_queue=TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
    except WorkflowAlreadyStartedError:
        return workflow_id, False
    return workflow_id, True


async def disconnect_at_provider(client: Client, command_id: str, input: DisconnectInput) -> DisconnectResult:
    """Run the disconnect's steps at the provider and the secrets' destruction (ConnectorDisconnect) and wait for
    them: a redelivered command waits for the workflow its first delivery started. A workflow that failed (Vault
    would not destroy the secrets) or has not finished in DISCONNECT_WAIT_S is a TransientError: the command stays
    pending and is tried again."""
    workflow_id = disconnect_workflow_id(command_id)
    async with _reachable():
        try:
            handle = await client.start_workflow(
                DISCONNECT_WORKFLOW,
                input,
                id=workflow_id,
                task_queue=TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                result_type=DisconnectResult,
            )
        except WorkflowAlreadyStartedError:  # finished before: its result is kept
            handle = client.get_workflow_handle(workflow_id, result_type=DisconnectResult)
        try:
            return await asyncio.wait_for(handle.result(), DISCONNECT_WAIT_S)
        except WorkflowFailureError as exc:
            raise TransientError(f"{workflow_id} failed: {exc.cause}") from None
        except TimeoutError:  # no temporal worker takes it: the command is tried again later, and joins it
            raise TransientError(f"{workflow_id} has not finished (is `bizosaas temporal-worker` running?)") from None


def _schedule(tenant_id: str, connector_id: str, interval_s: int, paused: bool) -> Schedule:
    every = timedelta(seconds=interval_s)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SCHEDULED_SYNC_WORKFLOW,
            SyncAllInput(tenant_id, connector_id, full=False),
            id=f"scheduled-sync:{connector_id}",  # Temporal appends the tick's time
            task_queue=TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=every, offset=timedelta(seconds=schedule_offset_s(connector_id, interval_s)))
            ]
        ),
        state=ScheduleState(paused=paused, note="paused through the API" if paused else ""),
    )


async def apply_schedule(client: Client, tenant_id: str, connector_id: str, interval_s: int, paused: bool) -> str:
    """Create the connector's schedule, or make the existing one this interval and pause state (idempotent)."""
    wanted = _schedule(tenant_id, connector_id, interval_s, paused)
    async with _reachable():
        try:
            await client.create_schedule(schedule_id(connector_id), wanted)
        except ScheduleAlreadyRunningError:
            handle = client.get_schedule_handle(schedule_id(connector_id))
            await handle.update(lambda _: ScheduleUpdate(schedule=wanted))
            if paused:
                await handle.pause(note="paused through the API")
            else:
                await handle.unpause(note="resumed through the API")
    return schedule_id(connector_id)


async def delete_schedule(client: Client, connector_id: str) -> bool:
    """Remove the connector's schedule; False when there was none."""
    try:
        async with _reachable():
            await client.get_schedule_handle(schedule_id(connector_id)).delete()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def stop_workflows(client: Client, connector_id: str, resources: list[str]) -> list[str]:
    """Terminate the connector's set-up and every resource's sync workflow that is running (a disconnect): nothing
    more is scheduled, and a page in flight is cancelled at its next heartbeat. Answers the ids stopped."""
    stopped = []
    for workflow_id in [connect_workflow_id(connector_id), *(sync_workflow_id(connector_id, r) for r in resources)]:
        try:
            async with _reachable():
                await client.get_workflow_handle(workflow_id).terminate(reason="connector disconnected")
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # never started, or finished already
                continue
            raise
        stopped.append(workflow_id)
    return stopped


class LazyTemporal:
    """A Temporal client connected on first use, so a worker starts (and its other groups run) while Temporal is
    down; until it answers, `get` raises TemporalUnavailable (transient)."""

    def __init__(self, address: str, namespace: str = "default", timeout_s: float = 5.0) -> None:
        self.address, self.namespace, self.timeout_s = address, namespace, timeout_s
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(self.address, namespace=self.namespace), self.timeout_s
                    )
                except (RuntimeError, RPCError, OSError, TimeoutError) as exc:
                    raise TemporalUnavailable(
                        f"Temporal does not answer at {self.address} (TEMPORAL_ADDRESS): {exc}"
                    ) from None
            return self._client


async def temporal_client(temporal: Client | LazyTemporal | None) -> Client:
    """The client a command runner was given (RunnerContext.temporal), connected."""
    if temporal is None:
        raise TemporalUnavailable("this worker has no Temporal client (TEMPORAL_ADDRESS)")
    return await temporal.get() if isinstance(temporal, LazyTemporal) else temporal


async def apply_usage_schedule(client: Client, connector_id: str, interval_s: int) -> bool:
    """The usage push's Temporal Schedule (`usage-push`), made to push through `connector_id` every `interval_s`;
    with no connector (billing off) it is removed. Idempotent: the temporal worker applies it when it starts. Answers
    whether a schedule exists now."""
    if not connector_id:
        try:
            async with _reachable():
                await client.get_schedule_handle(USAGE_PUSH_SCHEDULE).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return False
    wanted = Schedule(
        action=ScheduleActionStartWorkflow(
            USAGE_PUSH_WORKFLOW, UsagePushInput(connector_id), id=USAGE_PUSH_SCHEDULE, task_queue=TASK_QUEUE
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_s))]),
    )
    async with _reachable():
        try:
            await client.create_schedule(USAGE_PUSH_SCHEDULE, wanted)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(USAGE_PUSH_SCHEDULE).update(lambda _: ScheduleUpdate(schedule=wanted))
    return True

"""Connector workflows. Deterministic and free of I/O: every effect is an activity (called by name, so this module
imports no client library), and inputs, results and history carry ids and counts only.

- ConnectorSync (id `sync:{connector}:{resource}`, started by signal-with-start): runs one sync run after another
  while requests are pending. A `sync_now` signal arriving during a run is remembered and runs right after it, so
  one resource never has two runs at once. Pages are activity calls; the run's position lives in Postgres, so a
  continue-as-new (when the history grows) carries only the run id.
- ConnectorConnect (id `connect:{connector}`): the set-up. Tests the connection, signals-with-start every resource's
  initial (full) sync, registers the provider's webhooks where its set-up does (setup.py), and publishes where it
  stands (connecting, then connected or failed with the step and what to fix) for the connector's owner.
- ConnectorScheduledSync (started by the connector's Temporal Schedule `schedule:{connector}`): signal-with-starts
  every resource's ConnectorSync, exactly as a sync command does, so a tick during a run (or during a "sync now")
  joins it instead of running alongside, and a tick never cancels a pending request; then renews the webhooks that
  expire or multiply (Zoho CRM's notification channels, Trello's per-board webhooks: connectors/webhook_setup.py
  `renew`).
- ConnectorAction (id `action:{command}`): one provider action (update_stock ...); with a command id, it records the
  outcome and the action's answer on the command (an activity), so the command's status shows the result.
- ConnectorDisconnect (id `disconnect:{command}`, run by the disconnect command's runner): at the provider,
  unregister the set-up's webhooks and revoke the OAuth2 grant, each retried a few times and, when it still fails,
  named in the result (the disconnect goes on: the user asked for it); then destroy every version of the secrets,
  which is retried until it is done (the workflow fails otherwise, and the command with it stays pending).
- UsagePush (started by the Temporal Schedule `usage-push`): the platform's billing, every billed tenant's closed
  days of usage sent to Lago once (connectors/usage_push.py), in one activity that is safe to repeat.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from connectors.temporal.shared import (
        ACTION_WORKFLOW,
        CONNECT_WORKFLOW,
        DISCONNECT_WORKFLOW,
        SCHEDULED_SYNC_WORKFLOW,
        SYNC_NOW_SIGNAL,
        SYNC_WORKFLOW,
        USAGE_PUSH_WORKFLOW,
        ActionInput,
        BeginInput,
        CommandOutcome,
        ConnectorRef,
        DisconnectInput,
        DisconnectResult,
        FailInput,
        RunInput,
        RunResult,
        SetupOutcome,
        StepResult,
        SyncAllInput,
        SyncInput,
        SyncNow,
        SyncResult,
        UsagePushInput,
        UsagePushResult,
        WebhooksResult,
    )

PAGE_TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT = timedelta(seconds=20)  # a worker killed mid-page: its page is retried elsewhere this soon


def _retry(max_attempts: int) -> RetryPolicy:
    # ProviderRefused and other permanent errors arrive as non-retryable ApplicationErrors (activities.py)
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=max_attempts,
    )


def _cause(exc: BaseException) -> tuple[str, bool]:
    """(message, retryable) of an activity's failure, for the sync.failed event."""
    cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
    retryable = not (isinstance(cause, ApplicationError) and cause.non_retryable)
    kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
    return f"{kind}: {cause.message if hasattr(cause, 'message') else cause}", retryable


@workflow.defn(name=SYNC_WORKFLOW)
class SyncWorkflow:
    def __init__(self) -> None:
        self.pending = False
        self.full = False

    @workflow.signal(name=SYNC_NOW_SIGNAL)
    def sync_now(self, request: SyncNow) -> None:
        self.pending = True
        self.full = self.full or request.full

    @workflow.run
    async def run(self, input: SyncInput) -> SyncResult:
        self.pending = self.pending or input.pending
        self.full = self.full or input.full
        run_id = input.run_id
        runs: list[RunResult] = []
        options = dict(start_to_close_timeout=PAGE_TIMEOUT, retry_policy=_retry(input.max_attempts))
        while run_id or self.pending:
            if run_id is None:
                full, self.full, self.pending = self.full, False, False
                begin = BeginInput(input.tenant_id, input.connector_id, input.resource, str(workflow.uuid4()), full)
                run_id = await workflow.execute_activity("sync.begin", begin, result_type=str, **options)
            ids = RunInput(input.tenant_id, input.connector_id, input.resource, run_id)
            try:
                while True:
                    step = await workflow.execute_activity(
                        "sync.page", ids, result_type=StepResult, heartbeat_timeout=HEARTBEAT_TIMEOUT, **options
                    )
                    if step.done:
                        break
                    info = workflow.info()
                    if info.is_continue_as_new_suggested() or info.get_current_history_length() > input.max_history:
                        workflow.continue_as_new(
                            SyncInput(
                                input.tenant_id,
                                input.connector_id,
                                input.resource,
                                full=self.full,
                                pending=self.pending,
                                run_id=run_id,
                                max_attempts=input.max_attempts,
                                max_history=input.max_history,
                            )
                        )
                finished = await workflow.execute_activity("sync.finish", ids, result_type=RunResult, **options)
                runs.append(finished)
            except ActivityError as exc:
                error, retryable = _cause(exc)
                failed = FailInput(input.tenant_id, input.connector_id, input.resource, run_id, error, retryable)
                await workflow.execute_activity("sync.fail", failed, **options)
                runs.append(RunResult(run_id, "failed", error=error))
                if not self.pending:
                    raise ApplicationError(f"sync of {input.resource} failed: {error}", non_retryable=True) from exc
            run_id = None
        return SyncResult(runs)


@workflow.defn(name=CONNECT_WORKFLOW)
class ConnectWorkflow:
    @workflow.run
    async def run(self, input: ConnectorRef) -> list[str]:
        options = dict(start_to_close_timeout=timedelta(minutes=2), retry_policy=_retry(5))
        attempt = workflow.info().run_id

        def outcome(status: str, **fields) -> SetupOutcome:
            return SetupOutcome(input.tenant_id, input.connector_id, attempt, status, **fields)

        await workflow.execute_activity("connector.setup_outcome", outcome("connecting"), **options)
        step = "test"
        try:
            await workflow.execute_activity("connector.test", input, **options)
            step = "sync"
            # the initial syncs run on their own (one workflow per resource); webhooks are registered as soon as
            # they started, so a change made during a long import arrives by webhook too
            started = await workflow.execute_activity("connector.start_syncs", input, result_type=list[str], **options)
            step = "webhooks"
            hooks = await workflow.execute_activity(
                "connector.register_webhooks", input, result_type=WebhooksResult, **options
            )
        except ActivityError as exc:
            error, _ = _cause(exc)
            failed = outcome("failed", step=step, reason=error)
            await workflow.execute_activity("connector.setup_outcome", failed, **options)
            raise ApplicationError(f"set-up failed at {step}: {error}", non_retryable=True) from exc
        connected = outcome("connected", reason=hooks.note, webhooks=hooks.registered)
        await workflow.execute_activity("connector.setup_outcome", connected, **options)
        return started


@workflow.defn(name=SCHEDULED_SYNC_WORKFLOW)
class ScheduledSyncWorkflow:
    @workflow.run
    async def run(self, input: SyncAllInput) -> list[str]:
        options = dict(start_to_close_timeout=timedelta(minutes=1), retry_policy=_retry(5))
        started = await workflow.execute_activity("connector.sync_all", input, result_type=list[str], **options)
        # webhooks registered again where the api asks it each tick (Zoho CRM's channels expire; Trello's are per
        # board, and boards come after the set-up): connectors/webhook_setup.py `renew`
        ref = ConnectorRef(input.tenant_id, input.connector_id)
        await workflow.execute_activity("connector.renew_webhooks", ref, result_type=WebhooksResult, **options)
        return started


@workflow.defn(name=ACTION_WORKFLOW)
class ActionWorkflow:
    @workflow.run
    async def run(self, input: ActionInput) -> dict:
        options = dict(start_to_close_timeout=timedelta(minutes=2), retry_policy=_retry(5))
        try:
            result = await workflow.execute_activity("connector.action", input, result_type=dict, **options)
        except ActivityError as exc:
            if input.command_id:
                error, _ = _cause(exc)
                failed = CommandOutcome(input.tenant_id, input.command_id, "failed", f"{input.action}: {error}")
                await workflow.execute_activity("command.record", failed, **options)
            raise
        if input.command_id:
            done = CommandOutcome(input.tenant_id, input.command_id, "completed", f"{input.action} done", result)
            await workflow.execute_activity("command.record", done, **options)
        return result


@workflow.defn(name=DISCONNECT_WORKFLOW)
class DisconnectWorkflow:
    @workflow.run
    async def run(self, input: DisconnectInput) -> DisconnectResult:
        timeout = timedelta(minutes=1)
        retried = _retry(input.max_attempts)
        result = DisconnectResult()
        at_provider = (("webhooks", "connector.unregister_webhooks"), ("revoke", "connector.revoke"))
        for step, name in at_provider:  # before the secrets go: both need them
            try:
                said = await workflow.execute_activity(
                    name, input, result_type=str, start_to_close_timeout=timeout, retry_policy=retried
                )
            except ActivityError as exc:
                error, _ = _cause(exc)
                said = (
                    f"webhooks not unregistered ({error}): delete them at the provider by hand"
                    if step == "webhooks"
                    else f"access not revoked ({error}): revoke the app's access at the provider by hand"
                )
                result.failed.append(step)
                result.problems.append(said)
            result.done.append(said)
        destroyed = await workflow.execute_activity(
            "connector.destroy_secrets", input, result_type=str, start_to_close_timeout=timeout, retry_policy=_retry(5)
        )
        result.done.append(destroyed)
        return result


@workflow.defn(name=USAGE_PUSH_WORKFLOW)
class UsagePushWorkflow:
    @workflow.run
    async def run(self, input: UsagePushInput) -> UsagePushResult:
        # a repeated attempt re-sends nothing Lago recorded (transaction ids, and the usage_pushes ledger)
        return await workflow.execute_activity(
            "billing.push_usage",
            input,
            result_type=UsagePushResult,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=_retry(5),
        )

"""Connector activities: all the I/O of the workflows. Each reads what it needs by id (the connector's config from
Postgres under row-level security, its secrets from Vault) and returns ids and counts only.

Failures follow events.errors: a provider's 429/5xx is retried no sooner than its Retry-After
(`ApplicationError(next_retry_delay=...)`), other transient errors are retried by the policy, and everything else is
a non-retryable ApplicationError whose message says what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from connectors import sync, sync_deps, usage_push
from connectors.base import ProviderBusy
from connectors.temporal import action_results
from connectors.temporal.client import start_sync
from connectors.temporal.shared import (
    ActionInput,
    BeginInput,
    CommandOutcome,
    ConnectorRef,
    FailInput,
    RunInput,
    RunResult,
    StepResult,
    SyncAllInput,
    UsagePushInput,
    UsagePushResult,
)
from db.pool import tenant_transaction
from events.errors import is_transient

T = TypeVar("T")
HEARTBEAT_EVERY_S = 5.0  # a quarter of the heartbeat timeout (workflows.py)


def classified(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Map our failures onto Temporal's retry semantics."""

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> T:
        try:
            return await fn(*args)
        except ApplicationError:
            raise
        except ProviderBusy as exc:
            delay = timedelta(seconds=exc.retry_after_s) if exc.retry_after_s else None
            raise ApplicationError(str(exc), type="ProviderBusy", next_retry_delay=delay) from None
        except Exception as exc:
            if is_transient(exc):
                raise
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    return wrapper


@contextlib.asynccontextmanager
async def heartbeating(details: Any = None) -> AsyncIterator[None]:
    """Heartbeat while the block runs (a slow provider page must not look like a dead worker)."""

    async def beat() -> None:
        while True:
            activity.heartbeat(details)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class ConnectorActivities:
    def __init__(self, deps: sync_deps.SyncDeps, client: Client | None = None) -> None:
        self.deps = deps
        self.client = client  # for connector.start_syncs (signal-with-start of the sync workflows)

    def all(self) -> list[Callable]:
        return [
            self.begin,
            self.page,
            self.finish,
            self.fail,
            self.test_connection,
            self.start_syncs,
            self.sync_all,
            self.action,
            self.record_command,
            self.push_usage,
        ]

    @activity.defn(name="sync.begin")
    @classified
    async def begin(self, input: BeginInput) -> str:
        target = sync.Target(input.tenant_id, input.connector_id, input.resource)
        return await sync.begin(self.deps, target, input.run_id, input.full)

    @activity.defn(name="sync.page")
    @classified
    async def page(self, input: RunInput) -> StepResult:
        target = sync.Target(input.tenant_id, input.connector_id, input.resource)
        async with heartbeating(input.run_id):
            step = await sync.step(self.deps, target, input.run_id)
        return StepResult(step.done, step.page, step.records)

    @activity.defn(name="sync.finish")
    @classified
    async def finish(self, input: RunInput) -> RunResult:
        target = sync.Target(input.tenant_id, input.connector_id, input.resource)
        finished = await sync.finish(self.deps, target, input.run_id)
        return RunResult(input.run_id, "completed", finished.records, finished.deleted)

    @activity.defn(name="sync.fail")
    @classified
    async def fail(self, input: FailInput) -> None:
        target = sync.Target(input.tenant_id, input.connector_id, input.resource)
        await sync.fail(self.deps, target, input.run_id, input.error, input.retryable)

    @activity.defn(name="connector.test")
    @classified
    async def test_connection(self, input: ConnectorRef) -> None:
        api, call = await sync_deps.api_call(self.deps, input.tenant_id, input.connector_id)
        await api.test_connection(call)

    @activity.defn(name="connector.start_syncs")
    @classified
    async def start_syncs(self, input: ConnectorRef) -> list[str]:
        """The initial sync of every resource: a full run each (signal-with-start joins a run in progress)."""
        return await self._sync_all(SyncAllInput(input.tenant_id, input.connector_id, full=True))

    @activity.defn(name="connector.sync_all")
    @classified
    async def sync_all(self, input: SyncAllInput) -> list[str]:
        """A schedule's tick: signal-with-start every resource's sync (incremental)."""
        return await self._sync_all(input)

    async def _sync_all(self, input: SyncAllInput) -> list[str]:
        if self.client is None:
            raise ApplicationError("this worker has no Temporal client to start syncs with", non_retryable=True)
        _, call = await sync_deps.api_call(self.deps, input.tenant_id, input.connector_id)
        return [
            await start_sync(self.client, input.tenant_id, input.connector_id, resource.name, full=input.full)
            for resource in call.facts.resources
        ]

    @activity.defn(name="connector.action")
    @classified
    async def action(self, input: ActionInput) -> dict:
        """One provider action, performed once per workflow: a retry after the provider answered (the worker died
        before reporting) answers what the first attempt kept (connectors/temporal/action_results.py)."""
        workflow_id = activity.info().workflow_id
        kept = await action_results.recorded(self.deps.pool, input.tenant_id, workflow_id)
        if kept is not None:
            return kept
        api, call = await sync_deps.api_call(self.deps, input.tenant_id, input.connector_id)
        declared = {a.name for a in call.facts.actions}
        if input.action not in declared or not hasattr(api, input.action):
            raise ApplicationError(
                f"{call.facts.provider} has no action {input.action!r}; it has {sorted(declared)}", non_retryable=True
            )
        result = await getattr(api, input.action)(call, **input.input)
        # ids and the values the action set, not the provider's whole object, go into the history
        answer = {k: result[k] for k in ("id", *input.input) if k in result}
        await action_results.record(self.deps.pool, input.tenant_id, workflow_id, input.action, answer)
        return answer

    @activity.defn(name="command.record")
    @classified
    async def record_command(self, input: CommandOutcome) -> None:
        """The command's final status and result (the commands group marked it `running` when it started the
        workflow; a finished command never moves back)."""
        async with tenant_transaction(self.deps.pool, input.tenant_id) as conn:
            await conn.execute(
                """UPDATE commands SET status = $2, reason = $3, result = $4::jsonb, updated_at = now()
                   WHERE id = $1 AND status IN ('accepted', 'running')""",
                input.command_id,
                input.status,
                input.reason[:2000],
                json.dumps(input.result) if input.result is not None else None,
            )

    @activity.defn(name="billing.push_usage")
    @classified
    async def push_usage(self, input: UsagePushInput) -> UsagePushResult:
        async with heartbeating():
            pushed = await usage_push.push_usage(self.deps, input.connector_id)
        return UsagePushResult(pushed.tenants, pushed.events)

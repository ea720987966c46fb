"""The command runner group: carries out the commands on `bz:commands` and records each one's outcome in
`commands`. A command type that no runner handles yet is marked `rejected` with a reason: none stays `accepted`.

A runner is `async (command, ctx) -> reason or None` (`Runner`), with ctx a RunnerContext. It raises to fail the
command; a transient error (events.errors.is_transient) leaves the command pending instead: it is raised out of the
batch, so the runtime backs off and delivers it again. Runners run before the transaction (the group's `prepare`),
outcomes are recorded in it. Connector set-up (`connector.connect.v1`) and sync (`connector.sync.v1`) start Temporal
workflows through `RunnerContext.temporal` (connectors/temporal/client.py): `completed` means the workflow started (or,
for a sync, that a run was requested of the one in progress). Connecting also creates the connector's Temporal
Schedule (`connector.schedule.v1` changes its interval or pauses it), and the row of `connector_schedules` the
gateway shows it from. `connector.disconnect.v1` removes the schedule, stops the set-up and syncs in progress,
runs ConnectorDisconnect (the webhooks the set-up registered deleted and the OAuth2 grant revoked at the provider,
then every secret version destroyed, by the temporal worker, which has Vault) and, when asked, erases what came
from the connector. `connector.action.v1` starts the ConnectorAction workflow (id `action:{command}`) and leaves
the command `running`: the workflow records `completed` with the action's answer, or `failed`, when the action ends.
The disconnect's runner is in consumers/disconnect_runner.py; agent runs (`agent.run.v1`) and decisions on them
(`agent.run.decide.v1`) have their runners in consumers/agent_runners.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from connectors.config import ConnectorsConfig
from connectors.registry import get_facts
from connectors.temporal.client import apply_schedule, start_action, start_connect, start_sync, temporal_client
from connectors.temporal.shared import ActionInput, schedule_offset_s
from consumers.agent_runners import AGENT_RUNNERS
from consumers.disconnect_runner import run_disconnect
from consumers.entry import Entry
from consumers.group import Batch, Group
from db.pool import tenant_transaction
from events import codec
from events.codec import decode_command
from events.commands import (
    Command,
    ConnectConnector,
    DisconnectConnector,
    RunConnectorAction,
    ScheduleSyncs,
    StartSync,
)
from events.errors import PermanentError, is_transient
from events.streams import COMMANDS_STREAM, DEFAULT_PARTITIONS

GROUP = "commands"


@dataclass(frozen=True)
class RunnerContext:
    """What a runner may use."""

    pool: asyncpg.Pool  # the service role's pool: row-level security applies
    redis: Redis
    # a temporalio.client.Client, or a connectors.temporal.client.LazyTemporal (`bizosaas worker`); None: commands
    # that start workflows stay pending (a transient error) until a worker with Temporal takes them
    temporal: Any = None
    connectors: ConnectorsConfig = ConnectorsConfig()  # the default sync interval
    partitions: int = DEFAULT_PARTITIONS  # the event streams (a disconnect closes runs and erases entries there)


class Running(str):
    """A runner's answer when the command goes on after it returns (a workflow records the outcome): the command
    stays `running` with this reason."""


Runner = Callable[[Command, RunnerContext], Awaitable[str | None]]


async def _provider_of(ctx: RunnerContext, command: Command, connector_id: str) -> str:
    async with tenant_transaction(ctx.pool, command.tenant_id) as conn:
        row = await conn.fetchrow("SELECT provider, status FROM connectors WHERE id = $1", connector_id)
    if row is None or row["status"] != "active":
        raise PermanentError(f"connector {connector_id} does not exist or is not active")
    return row["provider"]


async def run_sync(command: StartSync, ctx: RunnerContext) -> str:
    """Signal-with-start each resource's sync workflow (every resource the provider syncs when none is named)."""
    facts = get_facts(await _provider_of(ctx, command, command.connector_id))
    known = [r.name for r in facts.resources]
    unknown = sorted(set(command.resources) - set(known))
    if unknown or not known:
        raise PermanentError(f"{facts.provider} syncs {known or 'nothing'}; not {unknown}")
    client = await temporal_client(ctx.temporal)
    started = [
        await start_sync(client, command.tenant_id, command.connector_id, name, command.full)
        for name in command.resources or known
    ]
    return "started " + ", ".join(started)


async def run_connect(command: ConnectConnector, ctx: RunnerContext) -> str:
    """Test the connection, then the initial sync of every resource (a workflow) and the webhooks the set-up
    registers; webhooks-only providers: nothing. A provider with nothing to sync (Telegram) gets no schedule."""
    facts = get_facts(await _provider_of(ctx, command, command.connector_id))
    if facts.api is None or not (facts.resources or facts.webhooks.registration == "by_setup"):
        return f"{facts.provider} is webhooks only: nothing to set up"
    client = await temporal_client(ctx.temporal)
    started = await start_connect(client, command.tenant_id, command.connector_id)
    if not facts.resources:
        return f"started {started}; nothing to sync, so no schedule"
    schedule = await _set_schedule(ctx, client, command.tenant_id, command.connector_id)
    return f"started {started}; {schedule}"


async def _set_schedule(
    ctx: RunnerContext, client: Any, tenant_id: str, connector_id: str, interval_s: int | None = None, paused=None
) -> str:
    """Apply the schedule to Temporal (what the row holds, changed by the arguments given), then write the row."""
    async with tenant_transaction(ctx.pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT interval_s, paused FROM connector_schedules WHERE connector_id = $1", connector_id
        )
    interval_s = interval_s or (row["interval_s"] if row else int(ctx.connectors.sync_interval_s))
    paused = paused if paused is not None else (row["paused"] if row else False)
    name = await apply_schedule(client, tenant_id, connector_id, interval_s, paused)
    async with tenant_transaction(ctx.pool, tenant_id) as conn:
        await conn.execute(
            """INSERT INTO connector_schedules (tenant_id, connector_id, interval_s, paused, offset_s)
               VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4)
               ON CONFLICT (tenant_id, connector_id) DO UPDATE SET interval_s = $2, paused = $3, offset_s = $4,
                 updated_at = now()""",
            connector_id,
            interval_s,
            paused,
            schedule_offset_s(connector_id, interval_s),
        )
    return f"{name} every {interval_s} s" + (" (paused)" if paused else "")


async def run_schedule(command: ScheduleSyncs, ctx: RunnerContext) -> str:
    """Change the interval or pause/resume the connector's sync schedule (created if it is missing)."""
    facts = get_facts(await _provider_of(ctx, command, command.connector_id))
    if facts.api is None or not facts.resources:
        raise PermanentError(f"{facts.provider} is webhooks only: it has no syncs to schedule")
    client = await temporal_client(ctx.temporal)
    return await _set_schedule(ctx, client, command.tenant_id, command.connector_id, command.interval_s, command.paused)


async def run_action(command: RunConnectorAction, ctx: RunnerContext) -> str:
    """Start the action's workflow (id from the command: a redelivery starts nothing new); it records the result."""
    facts = get_facts(await _provider_of(ctx, command, command.connector_id))
    if command.action not in {a.name for a in facts.actions}:
        raise PermanentError(f"{facts.provider} has no action {command.action!r}")
    client = await temporal_client(ctx.temporal)
    values = ActionInput(command.tenant_id, command.connector_id, command.action, dict(command.input), command.id)
    workflow_id, started = await start_action(client, command.id, values)
    return Running(f"started {workflow_id}" if started else f"{workflow_id} was started before")


RUNNERS: dict[str, Runner] = {  # command type -> runner
    StartSync.__struct_config__.tag: run_sync,
    ConnectConnector.__struct_config__.tag: run_connect,
    ScheduleSyncs.__struct_config__.tag: run_schedule,
    DisconnectConnector.__struct_config__.tag: run_disconnect,
    RunConnectorAction.__struct_config__.tag: run_action,
    **AGENT_RUNNERS,
}

# insert when the gateway's row is missing (a command from elsewhere); never move a finished command back
OUTCOME_SQL = """
INSERT INTO commands (tenant_id, id, type, status, reason, connector_id, issued_by, issued_at, body)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, reason = excluded.reason, updated_at = now()
WHERE commands.status IN ('accepted', 'running')
"""


async def outcome_of(command: Command, ctx: RunnerContext) -> tuple[str, str | None]:
    """(status, reason); raises a transient error, which leaves the command pending."""
    runner = RUNNERS.get(command.type)
    if runner is None:
        return "rejected", f"no runner handles {command.type} yet"
    try:
        reason = await runner(command, ctx)
        return ("running" if isinstance(reason, Running) else "completed"), reason
    except Exception as exc:
        if is_transient(exc):
            raise
        return "failed", f"{type(exc).__name__}: {exc}"[:2000]


async def record_outcome(conn: asyncpg.Connection, command: Command, status: str, reason: str | None) -> None:
    await conn.execute(
        OUTCOME_SQL,
        command.id,
        command.type,
        status,
        reason,
        getattr(command, "connector_id", None),
        command.issued_by,
        command.issued_at,
        codec.encode(command).decode(),
    )


def commands_group(ctx: RunnerContext) -> Group:
    async def run(batch: Batch) -> None:
        batch.state = {e.entry_id: await outcome_of(e.message, ctx) for e in batch.entries}

    async def record(conn: asyncpg.Connection, tenant: str, entries: Sequence[Entry], batch: Batch) -> None:
        for entry in sorted(entries, key=lambda e: e.message.id):
            await record_outcome(conn, entry.message, *batch.state[entry.entry_id])

    return Group(GROUP, [COMMANDS_STREAM], record, ctx.pool, prepare=run, decode=decode_command)

"""The command runner group: carries out the commands on `bz:commands` and records each one's outcome in
`commands`. A command type that no runner handles yet is marked `rejected` with a reason: none stays `accepted`.

A runner is `async (command, ctx) -> reason or None` (`Runner`), with ctx a RunnerContext. It raises to fail the
command; a transient error (events.errors.is_transient) leaves the command pending instead: it is raised out of the
batch, so the runtime backs off and delivers it again. Runners run before the transaction (the group's `prepare`),
outcomes are recorded in it. Connector set-up (`connector.connect.v1`) and sync (`connector.sync.v1`) start Temporal
workflows through `RunnerContext.temporal` (connectors/temporal/client.py): `completed` means the workflow started (or,
for a sync, that a run was requested of the one in progress). Agent runs register in RUNNERS when they land.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from connectors.registry import get_facts
from connectors.temporal.client import start_connect, start_sync, temporal_client
from consumers.entry import Entry
from consumers.group import Batch, Group
from db.pool import tenant_transaction
from events import codec
from events.codec import decode_command
from events.commands import Command, ConnectConnector, StartSync
from events.errors import PermanentError, is_transient
from events.streams import COMMANDS_STREAM

GROUP = "commands"


@dataclass(frozen=True)
class RunnerContext:
    """What a runner may use."""

    pool: asyncpg.Pool  # the service role's pool: row-level security applies
    redis: Redis
    # a temporalio.client.Client, or a connectors.temporal.client.LazyTemporal (`bizosaas worker`); None: commands
    # that start workflows stay pending (a transient error) until a worker with Temporal takes them
    temporal: Any = None


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
    """Test the connection, then the initial sync of every resource (a workflow); webhooks-only providers: nothing."""
    facts = get_facts(await _provider_of(ctx, command, command.connector_id))
    if facts.api is None or not facts.resources:
        return f"{facts.provider} is webhooks only: nothing to set up"
    client = await temporal_client(ctx.temporal)
    return "started " + await start_connect(client, command.tenant_id, command.connector_id)


RUNNERS: dict[str, Runner] = {  # command type -> runner
    StartSync.__struct_config__.tag: run_sync,
    ConnectConnector.__struct_config__.tag: run_connect,
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
        return "completed", await runner(command, ctx)
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

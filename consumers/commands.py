"""The command runner group: carries out the commands on `bz:commands` and records each one's outcome in
`commands`. A command type that no runner handles yet is marked `rejected` with a reason: none stays `accepted`.

A runner is `async (command, ctx) -> reason or None` (`Runner`), with ctx a RunnerContext. It raises to fail the
command; a transient error (events.errors.is_transient) leaves the command pending instead: it is raised out of the
batch, so the runtime backs off and delivers it again. Runners run before the transaction (the group's `prepare`),
outcomes are recorded in it. Runners for connector set-up and sync (Temporal) and agent runs register in RUNNERS when
those parts land.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from consumers.entry import Entry
from consumers.group import Batch, Group
from events import codec
from events.codec import decode_command
from events.commands import Command
from events.errors import is_transient
from events.streams import COMMANDS_STREAM

GROUP = "commands"


@dataclass(frozen=True)
class RunnerContext:
    """What a runner may use."""

    pool: asyncpg.Pool  # the service role's pool: row-level security applies
    redis: Redis
    temporal: Any = None  # the Temporal client (temporalio.client.Client), once the Temporal runners land


Runner = Callable[[Command, RunnerContext], Awaitable[str | None]]
RUNNERS: dict[str, Runner] = {}  # command type -> runner

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

"""The command runner group: carries out the commands on `bz:commands` and records each one's outcome in
`commands`. A command type that no runner handles yet is marked `rejected` with a reason: none stays `accepted`.

A runner is `async (command, ctx) -> reason or None`; it raises to fail the command. Runners for connector set-up
and sync (Temporal) and agent runs register in RUNNERS when those parts land.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from consumers.base import Group
from consumers.delivery import Delivery
from db.pool import set_tenant
from events import codec
from events.codec import decode_command
from events.commands import Command
from events.streams import COMMANDS_STREAM

GROUP = "commands"

Runner = Callable[[Command], Awaitable[str | None]]
RUNNERS: dict[str, Runner] = {}  # command type -> runner

# insert when the gateway's row is missing (a command from elsewhere); never move a finished command back
OUTCOME_SQL = """
INSERT INTO commands (tenant_id, id, type, status, reason, connector_id, issued_by, issued_at, body)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, reason = excluded.reason, updated_at = now()
WHERE commands.status IN ('accepted', 'running')
"""


async def outcome_of(command: Command) -> tuple[str, str | None]:
    runner = RUNNERS.get(command.type)
    if runner is None:
        return "rejected", f"no runner handles {command.type} yet"
    try:
        return "completed", await runner(command)
    except Exception as exc:
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


def commands_group(pool: asyncpg.Pool) -> Group:
    async def handle(batch: list[Delivery]) -> None:
        outcomes = [(d.message, *(await outcome_of(d.message))) for d in batch]
        async with pool.acquire() as conn, conn.transaction():
            for command, status, reason in sorted(outcomes, key=lambda o: (o[0].tenant_id, o[0].id)):
                await set_tenant(conn, command.tenant_id)
                await record_outcome(conn, command, status, reason)

    return Group(GROUP, [COMMANDS_STREAM], handle, decode=decode_command)

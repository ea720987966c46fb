"""Issuing commands: a row in `commands` (status `accepted`) in the caller's transaction, then the command on
`bz:commands` after the commit. The command runner group moves the row on (completed, rejected, failed)."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from db.pool import tenant_transaction
from events import codec
from events.commands import Command
from events.ids import new_id
from gateway.routing import Timestamp, json_response
from gateway.state import principal, tenant_of
from producers.publisher import Publisher


class CommandView(msgspec.Struct):
    id: str
    type: str
    status: str  # accepted | running | completed | rejected | failed
    reason: str | None
    connector_id: str | None
    issued_by: str
    issued_at: Timestamp
    updated_at: Timestamp
    result: dict[str, Any] | None = None  # what the command produced (a connector action's answer), once completed


COLUMNS = "id, type, status, reason, connector_id, issued_by, issued_at, updated_at, result"


def command_view(row: Any) -> CommandView:
    values = dict(row)
    if isinstance(values.get("result"), str):
        values["result"] = json.loads(values["result"])
    return CommandView(**values)


def new_command_fields(tenant_id: str, issued_by: str) -> dict:
    return {
        "id": "cmd_" + new_id().lower(),
        "tenant_id": tenant_id,
        "issued_at": Timestamp.now(UTC),
        "issued_by": issued_by,
    }


def caller_command_fields(request: web.Request) -> dict:
    """`new_command_fields` of a command the caller issues: their tenant, in their name."""
    return new_command_fields(tenant_of(request), principal(request).subject)


def accepted(view: CommandView) -> web.Response:
    """How a route that issued a command answers: 202, and where to read the command's status."""
    return json_response(view, status=202, headers={"Location": f"/v1/commands/{view.id}"})


async def record_command(conn: asyncpg.Connection, command: Command) -> None:
    """Insert the command's row in the transaction of the tenant that issues it."""
    await conn.execute(
        "INSERT INTO commands (tenant_id, id, type, status, connector_id, issued_by, issued_at, body) "
        "VALUES ($1, $2, $3, 'accepted', $4, $5, $6, $7::jsonb)",
        command.tenant_id,
        command.id,
        command.type,
        getattr(command, "connector_id", None),
        command.issued_by,
        command.issued_at,
        codec.encode(command).decode(),
    )


async def send_command(pool: asyncpg.Pool, publisher: Publisher, command: Command) -> None:
    """Publish after the row committed; if Redis refuses, the row says so instead of staying `accepted`."""
    try:
        await publisher.publish_command(command, idempotency_key=command.id)
    except Exception as exc:
        async with tenant_transaction(pool, command.tenant_id) as conn:
            await conn.execute(
                "UPDATE commands SET status = 'failed', reason = $2, updated_at = now() WHERE id = $1",
                command.id,
                f"could not be queued: {type(exc).__name__}",
            )
        raise

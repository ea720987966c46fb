"""Issuing an agent's proposed action: a connector.action.v1 command, exactly as `POST /v1/connectors/{id}/actions/
{action}` issues one (a `commands` row in the tenant's transaction, then the command on bz:commands), so the command
runner carries it out and its status is readable. Never a provider call from here."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import jsonschema

from connectors.registry import UnknownProvider, get_facts
from db.pool import tenant_transaction
from events import codec
from events.commands import RunConnectorAction
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.agents")


@functools.lru_cache(maxsize=256)
def _input_schema(provider: str, name: str) -> dict[str, Any] | None:
    try:
        found = next((a for a in get_facts(provider).actions if a.name == name), None)
    except UnknownProvider:
        return None
    return None if found is None else found.input_schema


async def _connector(conn: asyncpg.Connection, provider: str, prefer: str) -> str | None:
    """The tenant's connector of that provider: the trigger's own when it is one, else the oldest connected one."""
    return await conn.fetchval(
        "SELECT id FROM connectors WHERE provider = $1 AND status <> 'disconnected' "
        "ORDER BY (id = $2) DESC, created_at LIMIT 1",
        provider,
        prefer,
    )


async def issue_action(pool: asyncpg.Pool, publisher: Publisher, run, action: dict[str, Any], command_id: str) -> bool:
    """Issue one proposed action ({action, input, reason}) of `run` (an IssueInput) as command `command_id`; False
    (logged) when the action names no provider action the agent may propose, its input misses the action's schema,
    or the tenant has no connector for it. A command issued already (a retry) is sent again under its id, which
    the publisher deduplicates."""
    from agents.catalog import catalog

    name = action.get("action", "")
    provider, _, verb = name.partition(".")
    schema = _input_schema(provider, verb)
    values = action.get("input") or {}
    if name not in catalog()[run.agent].actions or schema is None:
        log.warning("agent run %s: action %r is not one this agent may propose; skipped", run.run_id, name)
        return False
    problems = [e.message for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(values)]
    if problems:
        log.warning("agent run %s: action %s input refused (%s); skipped", run.run_id, name, "; ".join(problems))
        return False
    async with tenant_transaction(pool, run.tenant_id) as conn:
        connector_id = await _connector(conn, provider, run.source)
        if connector_id is None:
            log.warning("agent run %s: tenant has no %s connector for %s; skipped", run.run_id, provider, name)
            return False
        command = RunConnectorAction(
            id=command_id,
            tenant_id=run.tenant_id,
            issued_at=datetime.now(UTC),
            issued_by=run.issued_by,
            correlation_id=run.run_id,
            connector_id=connector_id,
            action=verb,
            input=values,
        )
        await conn.execute(
            "INSERT INTO commands (tenant_id, id, type, status, connector_id, issued_by, issued_at, body) "
            "VALUES ($1, $2, $3, 'accepted', $4, $5, $6, $7::jsonb) ON CONFLICT DO NOTHING",
            command.tenant_id,
            command.id,
            command.type,
            connector_id,
            command.issued_by,
            command.issued_at,
            codec.encode(command).decode(),
        )
    await publisher.publish_command(command, idempotency_key=command.id)
    return True

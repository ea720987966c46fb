"""Commands (`202` + a command id whose status can be read) and their status."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import jsonschema
import msgspec
from aiohttp import web
from msgspec import Meta

from connectors.registry import get_facts
from db.pool import tenant_transaction
from events.commands import RunAgent, RunConnectorAction, ScheduleSyncs, StartSync
from gateway.commands import (
    COLUMNS,
    CommandView,
    accepted,
    caller_command_fields,
    command_view,
    record_command,
    send_command,
)
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, ShortText, json_response, read_json, read_query
from gateway.state import POOL, PUBLISHER, tenant_of

routes = Routes("commands")

Status = Literal["accepted", "running", "completed", "rejected", "failed"]


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    resources: list[Annotated[str, Meta(min_length=1, max_length=100)]] = []  # empty: every resource
    full: bool = False  # ignore the saved cursors


class ScheduleRequest(msgspec.Struct, forbid_unknown_fields=True):
    interval_s: Annotated[int, Meta(ge=60, le=7 * 86400)] | None = None  # seconds between incremental syncs
    paused: bool | None = None  # true: no scheduled run until resumed (false); "sync now" still runs


class AgentRunRequest(msgspec.Struct, forbid_unknown_fields=True):
    prompt: Annotated[str, Meta(max_length=20_000)] = ""
    inputs: dict[str, Any] = {}


class CommandList(msgspec.Struct):
    items: list[CommandView]
    next: str | None


class CommandQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    status: Status | None = None
    connector_id: ShortText | None = None


async def issue_command(request: web.Request, command) -> CommandView:
    """Record and send a command for the caller's tenant (the JSON routes and the portal's buttons)."""
    pool = request.app[POOL]
    async with tenant_transaction(pool, command.tenant_id) as conn:
        connector_id = getattr(command, "connector_id", None)
        if connector_id is not None:
            status = await conn.fetchval("SELECT status FROM connectors WHERE id = $1", connector_id)
            if status is None:
                raise ProblemError("not-found", "no such connector")
            if status == "disconnected":
                raise ProblemError("conflict", "the connector is disconnected")
        await record_command(conn, command)
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM commands WHERE id = $1", command.id)
    await send_command(pool, request.app[PUBLISHER], command)
    return command_view(row)


async def start_sync(request: web.Request, connector_id: str, body: SyncRequest) -> CommandView:
    command = StartSync(
        connector_id=connector_id,
        resources=body.resources,
        full=body.full,
        **caller_command_fields(request),
    )
    return await issue_command(request, command)


@routes.route(
    "POST",
    "/v1/connectors/{connector_id}/sync",
    permission="commands:write",
    summary="Start a sync of a connector (a command)",
    body=SyncRequest,
    response=CommandView,
    status=202,
)
async def post_sync(request: web.Request) -> web.Response:
    body = await read_json(request, SyncRequest)
    return accepted(await start_sync(request, request.match_info["connector_id"], body))


@routes.route(
    "POST",
    "/v1/connectors/{connector_id}/schedule",
    permission="connectors:write",
    summary="Change a connector's sync schedule: its interval, or pause and resume it (a command)",
    body=ScheduleRequest,
    response=CommandView,
    status=202,
    errors=(404,),
)
async def post_schedule(request: web.Request) -> web.Response:
    body = await read_json(request, ScheduleRequest)
    return accepted(await issue_command(request, schedule_command(request, request.match_info["connector_id"], body)))


def schedule_command(request: web.Request, connector_id: str, body: ScheduleRequest) -> ScheduleSyncs:
    """The command changing a connector's schedule (the JSON route and the portal's pause/resume button)."""
    if body.interval_s is None and body.paused is None:
        raise ProblemError("validation", "give interval_s or paused", errors=["interval_s", "paused"])
    return ScheduleSyncs(
        connector_id=connector_id,
        interval_s=body.interval_s,
        paused=body.paused,
        **caller_command_fields(request),
    )


@functools.lru_cache(maxsize=256)
def _validator(provider: str, action: str) -> jsonschema.protocols.Validator | None:
    found = next((a for a in get_facts(provider).actions if a.name == action), None)
    if found is None:
        return None
    schema = found.input_schema
    return jsonschema.validators.validator_for(schema)(schema)


def _input_problems(validator: jsonschema.protocols.Validator, value: Any) -> list[str]:
    """Every way the input misses the action's schema, each naming its field."""
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, error.absolute_path))
        problems.append(f"input.{where}: {error.message}" if where else f"input: {error.message}")
    return problems


@routes.route(
    "POST",
    "/v1/connectors/{connector_id}/actions/{action}",
    permission="commands:write",
    summary="Run one of the provider's actions (provider.toml's input_schema checks the body); a command whose "
    "status shows the action's result",
    body=dict[str, Any],
    response=CommandView,
    status=202,
    errors=(404,),
)
async def post_action(request: web.Request) -> web.Response:
    connector_id, action = request.match_info["connector_id"], request.match_info["action"]
    values = await read_json(request, dict[str, Any])
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        provider = await conn.fetchval("SELECT provider FROM connectors WHERE id = $1", connector_id)
    if provider is None:
        raise ProblemError("not-found", "no such connector")
    validator = _validator(provider, action)
    if validator is None:
        known = ", ".join(a.name for a in get_facts(provider).actions) or "none"
        raise ProblemError("not-found", f"{provider} has no action {action!r}; its actions: {known}")
    problems = _input_problems(validator, values)
    if problems:
        raise ProblemError("validation", f"{action}: {problems[0]}", errors=problems)
    command = RunConnectorAction(
        connector_id=connector_id,
        action=action,
        input=values,
        **caller_command_fields(request),
    )
    return accepted(await issue_command(request, command))


@routes.route(
    "POST",
    "/v1/agents/{agent}/runs",
    permission="commands:write",
    summary="Run an agent (a command)",
    body=AgentRunRequest,
    response=CommandView,
    status=202,
)
async def post_agent_run(request: web.Request) -> web.Response:
    body = await read_json(request, AgentRunRequest)
    command = RunAgent(
        agent=request.match_info["agent"],
        prompt=body.prompt,
        inputs=body.inputs,
        **caller_command_fields(request),
    )
    return accepted(await issue_command(request, command))


@routes.route(
    "GET",
    "/v1/commands/{command_id}",
    permission="commands:read",
    summary="A command's status",
    response=CommandView,
    errors=(404,),
)
async def get_command(request: web.Request) -> web.Response:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM commands WHERE id = $1", request.match_info["command_id"])
    if row is None:
        raise ProblemError("not-found", "no such command")
    return json_response(command_view(row))


@routes.route(
    "GET",
    "/v1/commands",
    permission="commands:read",
    summary="List commands, newest first",
    query=CommandQuery,
    response=CommandList,
)
async def list_commands(request: web.Request) -> web.Response:
    query = read_query(request, CommandQuery)
    items, cursor = await fetch_page(
        request,
        query,
        "commands",
        f"SELECT {COLUMNS} FROM commands WHERE ($1::text IS NULL OR status = $1) "
        "AND ($2::text IS NULL OR connector_id = $2) "
        "AND ($3::timestamptz IS NULL OR (issued_at, id) < ($3, $4::text)) "
        "ORDER BY issued_at DESC, id DESC LIMIT $5",
        query.status,
        query.connector_id,
        sort_field="issued_at",
    )
    return json_response(CommandList(items=[command_view(r) for r in items], next=cursor))

"""Agent runs as their tenant sees them (the `agent_runs` projection, consumers/agent_runs.py), and a person's
decision on a run awaiting approval: a command (`agent.run.decide.v1`) the command runner hands to the run workflow.
The gateway starts and signals no workflow itself."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from db.audit import record_audit
from db.pool import tenant_transaction
from events.commands import DecideAgentRun
from gateway.commands import COLUMNS as COMMAND_COLUMNS
from gateway.commands import CommandView, accepted, caller_command_fields, command_view, record_command, send_command
from gateway.memberships import actor_of
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, ShortText, Timestamp, json_response, read_json, read_query
from gateway.state import POOL, PUBLISHER, principal, tenant_of

routes = Routes("agents")

Status = Literal["started", "deferred", "awaiting_approval", "completed", "failed"]


class RunSubject(msgspec.Struct):
    kind: str  # the record the run is about: order, lead ...
    external_id: str


class AgentRun(msgspec.Struct):
    id: str
    agent: str  # an id of GET /v1/agents
    status: Status
    source: str  # the connector the trigger came from, or "agents"
    trigger_id: str  # the event that woke the agent, or the command (POST /v1/agents/{agent}/runs) that asked
    triggers: int  # triggers the coalescing window folded into this run
    subject: RunSubject | None  # None: a run asked without a record
    inputs: dict[str, Any]
    output: dict[str, Any] | None  # the validated answer (proposed while awaiting approval, final once completed)
    actions: list[dict[str, Any]]  # proposed actions {action, input, reason}; commands only once approved
    citations: list[dict[str, Any]]  # the records and documents the answer used
    decision: str  # approved, rejected, expired, auto, or "" (nothing to approve)
    commands: list[str]  # ids of the commands the approved actions became (GET /v1/commands/{id})
    tokens_in: int
    tokens_out: int
    cost_micro_usd: int
    latency_ms: int
    error: str | None  # why it failed
    reason: str | None  # why it was deferred
    expires_at: Timestamp | None  # when the approval it waits for expires
    started_at: Timestamp | None
    finished_at: Timestamp | None
    updated_at: Timestamp


class TraceStep(msgspec.Struct):
    tool: str  # a tool of the agent's catalog entry
    input: dict[str, Any]  # the arguments the model gave
    output: str  # what the tool answered the model (cut at agents/tools.py TOOL_OUTPUT_CHARS)
    ms: int


class AgentRunTrace(msgspec.Struct, kw_only=True):
    """What the run's crew did (agent_run_traces): named fields only, so nothing else stored there is ever shown."""

    run_id: str
    agent: str
    steps: list[TraceStep] = []  # tool calls in the order made
    attempts: int = 1  # 2 when the first answer needed its repair
    raw_answer: str = ""  # the model's last answer as it came (at most 20,000 characters)
    error: str = ""  # why the answer was refused twice, or ""
    tokens_in: int = 0
    tokens_out: int = 0
    recorded_at: Timestamp  # when the crew finished


class AgentRunList(msgspec.Struct):
    items: list[AgentRun]
    next: str | None


class AgentRunQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    agent: ShortText | None = None
    status: Status | None = None


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(max_length=2000)] = ""  # recorded with the decision


RUN_COLUMNS = (
    "run_id AS id, agent, status, source, trigger_id, triggers, subject_kind, subject_external_id, inputs, output, "
    "actions, citations, decision, commands, tokens_in, tokens_out, cost_micro_usd, latency_ms, error, reason, "
    "expires_at, started_at, finished_at, updated_at, coalesce(started_at, status_at) AS at"
)
_JSON = ("inputs", "output", "actions", "citations", "commands")


def run_view(row: Any) -> AgentRun:
    values = {k: v for k, v in row.items() if k not in ("at", "subject_kind", "subject_external_id")}
    for name in _JSON:
        if isinstance(values[name], str):
            values[name] = json.loads(values[name])
    kind = row["subject_kind"]
    values["subject"] = RunSubject(kind, row["subject_external_id"]) if kind else None
    return AgentRun(**values)


@routes.route(
    "GET",
    "/v1/agent-runs",
    permission="records:read",
    summary="List agent runs, newest first (filter by agent or status)",
    query=AgentRunQuery,
    response=AgentRunList,
)
async def list_runs(request: web.Request) -> web.Response:
    return json_response(await run_page(request, read_query(request, AgentRunQuery)))


async def run_page(request: web.Request, query: AgentRunQuery) -> AgentRunList:
    items, cursor = await fetch_page(
        request,
        query,
        "agent-runs",
        f"""SELECT {RUN_COLUMNS} FROM agent_runs
            WHERE ($1::text IS NULL OR agent = $1) AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (coalesce(started_at, status_at), run_id) < ($3, $4::text))
            ORDER BY coalesce(started_at, status_at) DESC, run_id DESC LIMIT $5""",
        query.agent,
        query.status,
        sort_field="at",
    )
    return AgentRunList(items=[run_view(r) for r in items], next=cursor)


@routes.route(
    "GET",
    "/v1/agent-runs/{run_id}",
    permission="records:read",
    summary="One agent run: its trigger, inputs, output, proposed actions, citations, decision, tokens and cost",
    response=AgentRun,
    errors=(404,),
)
async def get_run(request: web.Request) -> web.Response:
    return json_response(await run_detail(request, request.match_info["run_id"]))


async def run_detail(request: web.Request, run_id: str) -> AgentRun:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE run_id = $1", run_id)
    if row is None:
        raise ProblemError("not-found", "no such agent run")
    return run_view(row)


@routes.route(
    "GET",
    "/v1/agent-runs/{run_id}/trace",
    permission="records:read",
    summary="What an agent run did: its tool calls (input, output, time), the model's raw answer, attempts, tokens",
    response=AgentRunTrace,
    errors=(404,),
)
async def get_trace(request: web.Request) -> web.Response:
    run_id = request.match_info["run_id"]
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            "SELECT agent_id, trace::text, recorded_at FROM agent_run_traces WHERE run_id = $1", run_id
        )
        if row is None:  # a run deferred, failed before its crew, or whose crew is still working has none yet
            known = await conn.fetchval("SELECT true FROM agent_runs WHERE run_id = $1", run_id)
            raise ProblemError("not-found", "the run has no trace yet" if known else "no such agent run")
    trace = json.loads(row["trace"])
    fields = {name: trace.get(name) for name in ("steps", "attempts", "raw_answer", "error", "tokens_in", "tokens_out")}
    view = {**fields, "run_id": run_id, "agent": row["agent_id"], "recorded_at": row["recorded_at"]}
    return json_response(msgspec.convert({k: v for k, v in view.items() if v is not None}, AgentRunTrace, strict=False))


async def _decide(request: web.Request, approved: bool) -> web.Response:
    """A decide command, only for a run that awaits approval; 202 with the command."""
    body = await read_json(request, Decision)
    return accepted(await decide_run(request, request.match_info["run_id"], approved, body.reason))


async def decide_run(request: web.Request, run_id: str, approved: bool, reason: str) -> CommandView:
    """Record and send a person's decision on a run awaiting approval (404: no such run; 409: not awaiting).
    The one place both the JSON routes and the portal's approval inbox decide, so the audit log's entry is written
    here, in the transaction that records the command."""
    command = DecideAgentRun(
        run_id=run_id,
        approved=approved,
        reason=reason,
        **caller_command_fields(request),
    )
    pool = request.app[POOL]
    async with tenant_transaction(pool, command.tenant_id) as conn:
        status = await conn.fetchval("SELECT status FROM agent_runs WHERE run_id = $1", run_id)
        if status is None:
            raise ProblemError("not-found", "no such agent run")
        if status != "awaiting_approval":
            raise ProblemError("conflict", f"the run is {status}, not awaiting approval")
        await record_command(conn, command)
        action = "agent_run.approved" if approved else "agent_run.rejected"
        detail = {"command": command.id} | ({"reason": reason} if reason else {})
        await record_audit(conn, command.tenant_id, actor_of(principal(request)), action, run_id, detail)
        row = await conn.fetchrow(f"SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1", command.id)
    await send_command(pool, request.app[PUBLISHER], command)
    return command_view(row)


@routes.route(
    "POST",
    "/v1/agent-runs/{run_id}/approve",
    permission="commands:write",
    summary="Approve a run awaiting approval: its proposed actions become commands (a command; 409 otherwise)",
    body=Decision,
    response=CommandView,
    status=202,
    errors=(404, 409),
)
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, approved=True)


@routes.route(
    "POST",
    "/v1/agent-runs/{run_id}/reject",
    permission="commands:write",
    summary="Reject a run awaiting approval: it ends without issuing anything (a command; 409 otherwise)",
    body=Decision,
    response=CommandView,
    status=202,
    errors=(404, 409),
)
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, approved=False)

"""The agent catalog as a tenant sees it, and what a tenant admin changes: which agents run, how freely each acts,
and the tenant's budget. The catalog is data (agents/catalog/*.toml, the same for every tenant); the tenant's state
is agents/tenant_settings.py's rules over its rows in agent_settings and agent_limits (row-level security)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from agents.catalog import CATEGORIES, AgentSpec, Reads, Trigger, catalog, full_output_schema
from agents.tenant_settings import (
    SETTINGS_COLUMNS,
    AgentState,
    Autonomy,
    TenantLimits,
    agent_state,
    agent_states,
    load_agent_state,
    load_tenant_limits,
)
from db.pool import tenant_transaction
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_key_cursor, encode_key_cursor
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, Timestamp, json_response, read_json, read_query
from gateway.state import CONFIG, POOL, tenant_of

routes = Routes("agents")

Category = Literal[tuple(CATEGORIES)]  # type: ignore[valid-type]  # the six category ids, an enum in the OpenAPI


class AgentView(msgspec.Struct):
    id: str
    category: str
    name: str
    role: str
    goal: str
    tools: list[str]
    triggers: list[Trigger]  # none: it runs only when asked (POST /v1/agents/{agent}/runs)
    reads: Reads
    actions: list[str]  # provider actions it may propose (commands after approval)
    default_autonomy: Autonomy  # the catalog entry's
    output_schema: dict[str, Any]  # JSON Schema of its answer, with the proposed actions where it may act
    # --- this tenant's state ---
    enabled: bool
    autonomy: Autonomy  # in effect
    act_without_approval: bool
    updated_at: Timestamp | None = None  # when the tenant last changed it; null: never (the defaults)


class AgentList(msgspec.Struct):
    items: list[AgentView]
    next: str | None


class AgentQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    category: Category | None = None
    enabled: bool | None = None


class AgentPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Absent fields stay as they are."""

    enabled: bool | UnsetType = UNSET
    autonomy: Autonomy | UnsetType | None = UNSET  # "act" only for an agent with actions; null: the entry's
    act_without_approval: bool | UnsetType = UNSET  # true only while autonomy is "act"


TokenBudget = Annotated[int, Meta(ge=0)]
Concurrency = Annotated[int, Meta(ge=1)]


class AgentLimitsView(msgspec.Struct):
    daily_token_budget: int  # in effect: tokens per UTC day for all the tenant's agents
    max_concurrent_runs: int  # in effect
    deployment_daily_token_budget: int  # the default, and the most a tenant may set
    deployment_max_concurrent_runs: int
    updated_at: Timestamp | None = None


class AgentLimitsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Absent fields stay as they are; null returns a field to the deployment's default."""

    daily_token_budget: TokenBudget | UnsetType | None = UNSET
    max_concurrent_runs: Concurrency | UnsetType | None = UNSET


def agent_view(spec: AgentSpec, state: AgentState) -> AgentView:
    return AgentView(
        id=spec.id,
        category=spec.category,
        name=spec.name,
        role=spec.role,
        goal=spec.goal,
        tools=spec.tools,
        triggers=spec.triggers,
        reads=spec.reads,
        actions=spec.actions,
        default_autonomy=spec.autonomy,
        output_schema=full_output_schema(spec),
        enabled=state.enabled,
        autonomy=state.autonomy,
        act_without_approval=state.act_without_approval,
        updated_at=state.updated_at,
    )


def _spec(agent: str) -> AgentSpec:
    spec = catalog().get(agent)
    if spec is None:
        raise ProblemError("not-found", f"no agent {agent[:100]!r} in the catalog (GET /v1/agents lists them)")
    return spec


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError("validation", f"{field}: {message}", errors=[f"{field}: {message}"])


@routes.route(
    "GET",
    "/v1/agents",
    permission="agents:read",
    summary="The agent catalog with the tenant's state of each agent, by id",
    query=AgentQuery,
    response=AgentList,
)
async def list_agents(request: web.Request) -> web.Response:
    return json_response(await agent_page(request, read_query(request, AgentQuery)))


async def agent_page(request: web.Request, query: AgentQuery) -> AgentList:
    """The catalog with the tenant's state of each agent (the portal's agents page calls this too)."""
    after = decode_key_cursor(query.cursor, "agents") or ""
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await agent_states(conn)
    items = []
    for agent_id in sorted(catalog()):
        spec = catalog()[agent_id]
        if agent_id <= after or (query.category and spec.category != query.category):
            continue
        state = agent_state(spec, rows.get(agent_id))
        if query.enabled is None or state.enabled == query.enabled:
            items.append(agent_view(spec, state))
    cursor = encode_key_cursor("agents", items[query.limit - 1].id) if len(items) > query.limit else None
    return AgentList(items=items[: query.limit], next=cursor)


@routes.route(
    "GET",
    "/v1/agents/{agent}",
    permission="agents:read",
    summary="One agent of the catalog with the tenant's state of it",
    response=AgentView,
    errors=(404,),
)
async def get_agent(request: web.Request) -> web.Response:
    spec = _spec(request.match_info["agent"])
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        state = await load_agent_state(conn, spec)
    return json_response(agent_view(spec, state))


@routes.route(
    "PATCH",
    "/v1/agents/{agent}",
    permission="agents:manage",
    summary="Enable or disable an agent for the tenant, and set how freely it acts",
    body=AgentPatch,
    response=AgentView,
    errors=(404,),
)
async def patch_agent(request: web.Request) -> web.Response:
    body = await read_json(request, AgentPatch)
    return json_response(await update_agent(request, request.match_info["agent"], body))


async def update_agent(request: web.Request, agent: str, body: AgentPatch) -> AgentView:
    """Apply a patch to the tenant's state of one agent (the portal's enable/autonomy forms call this too)."""
    spec = _spec(agent)
    if body.autonomy == "act" and not spec.actions:
        raise _invalid("autonomy", f"'act' needs an agent that proposes actions; {spec.id} has none, so it suggests")
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        row = await conn.fetchrow(
            f"SELECT {SETTINGS_COLUMNS} FROM agent_settings WHERE agent_id = $1 FOR UPDATE",
            spec.id,
        )
        current = agent_state(spec, row)
        stored_autonomy = (row["autonomy"] if row else None) if body.autonomy is UNSET else body.autonomy
        autonomy = (stored_autonomy or spec.autonomy) if spec.actions else "suggest"  # None: follow the entry
        act_now = current.act_without_approval if body.act_without_approval is UNSET else body.act_without_approval
        if act_now and autonomy != "act":
            if body.act_without_approval is True:
                raise _invalid("act_without_approval", f"needs autonomy 'act'; {spec.id}'s is {autonomy!r}")
            act_now = False  # lowering autonomy to suggest withdraws the permission to act without approval
        row = await conn.fetchrow(
            "INSERT INTO agent_settings (tenant_id, agent_id, enabled, autonomy, act_without_approval) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, agent_id) DO UPDATE SET enabled = EXCLUDED.enabled, "
            "autonomy = EXCLUDED.autonomy, act_without_approval = EXCLUDED.act_without_approval, updated_at = now() "
            f"RETURNING {SETTINGS_COLUMNS}",
            tenant,
            spec.id,
            current.enabled if body.enabled is UNSET else body.enabled,
            stored_autonomy,
            act_now,
        )
    return agent_view(spec, agent_state(spec, row))


def _limits_view(request: web.Request, limits: TenantLimits) -> AgentLimitsView:
    config = request.app[CONFIG]
    return AgentLimitsView(
        daily_token_budget=limits.daily_token_budget,
        max_concurrent_runs=limits.max_concurrent_runs,
        deployment_daily_token_budget=config.agent_daily_token_budget,
        deployment_max_concurrent_runs=config.agent_max_concurrent_runs,
        updated_at=limits.updated_at,
    )


@routes.route(
    "GET",
    "/v1/agent-limits",
    permission="agents:read",
    summary="The tenant's agent budget: tokens per day and runs at once",
    response=AgentLimitsView,
)
async def get_agent_limits(request: web.Request) -> web.Response:
    return json_response(await agent_limits_view(request))


async def agent_limits_view(request: web.Request) -> AgentLimitsView:
    """The tenant's agent limits in effect and the deployment's (the portal's agent limits page shows them too)."""
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        limits = await load_tenant_limits(conn, request.app[CONFIG])
    return _limits_view(request, limits)


@routes.route(
    "PATCH",
    "/v1/agent-limits",
    permission="agents:manage",
    summary="Set the tenant's agent budget (at most the deployment's; null: the deployment's default)",
    body=AgentLimitsPatch,
    response=AgentLimitsView,
)
async def patch_agent_limits(request: web.Request) -> web.Response:
    return json_response(await update_agent_limits(request, await read_json(request, AgentLimitsPatch)))


async def update_agent_limits(request: web.Request, body: AgentLimitsPatch) -> AgentLimitsView:
    """Apply a patch to the tenant's agent limits (the portal's agent limits form calls this too)."""
    config = request.app[CONFIG]
    ceilings = {
        "daily_token_budget": (config.agent_daily_token_budget, "BIZOSAAS_AGENT_DAILY_TOKEN_BUDGET"),
        "max_concurrent_runs": (config.agent_max_concurrent_runs, "BIZOSAAS_AGENT_MAX_CONCURRENT_RUNS"),
    }
    for field, (ceiling, setting) in ceilings.items():
        value = getattr(body, field)
        if isinstance(value, int) and value > ceiling:
            raise _invalid(field, f"at most {ceiling}, the deployment's limit ({setting}); ask the operator for more")
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        row = await conn.fetchrow(
            "SELECT daily_token_budget, max_concurrent_runs FROM agent_limits WHERE tenant_id = $1 FOR UPDATE", tenant
        )
        stored = {field: (row[field] if row else None) for field in ceilings}
        for field in ceilings:
            if getattr(body, field) is not UNSET:
                stored[field] = getattr(body, field)
        await conn.execute(
            "INSERT INTO agent_limits (tenant_id, daily_token_budget, max_concurrent_runs) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id) DO UPDATE SET daily_token_budget = EXCLUDED.daily_token_budget, "
            "max_concurrent_runs = EXCLUDED.max_concurrent_runs, updated_at = now()",
            tenant,
            stored["daily_token_budget"],
            stored["max_concurrent_runs"],
        )
        limits = await load_tenant_limits(conn, config)
    return _limits_view(request, limits)

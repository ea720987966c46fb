"""A tenant's say over its agents (tables agent_settings and agent_limits, migration 0014, under row-level security):
the rules that turn a stored row, or its absence, into what is in effect. The gateway shows and changes them; the
agents group and the run workflow read them through the same functions, so both sides apply one rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from agents.catalog import AgentSpec
from agents.config import AgentsConfig

Autonomy = Literal["suggest", "act"]


@dataclass(frozen=True)
class AgentState:
    enabled: bool  # a missing row: disabled (a tenant opts in to each agent)
    autonomy: Autonomy  # in effect: the tenant's choice, else the catalog entry's
    act_without_approval: bool  # only ever true while autonomy is "act"
    updated_at: datetime | None = None  # when the tenant last changed it; None: never


def agent_state(spec: AgentSpec, row: asyncpg.Record | dict | None) -> AgentState:
    if row is None:
        return AgentState(enabled=False, autonomy=spec.autonomy, act_without_approval=False)
    # an agent with no action can only suggest, whatever a row says (the catalog may have dropped its actions since)
    autonomy = (row["autonomy"] or spec.autonomy) if spec.actions else "suggest"
    return AgentState(row["enabled"], autonomy, autonomy == "act" and row["act_without_approval"], row["updated_at"])


SETTINGS_COLUMNS = "enabled, autonomy, act_without_approval, updated_at"  # of agent_settings: what agent_state reads


async def agent_states(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """The tenant's rows by agent id (in a tenant transaction: row-level security picks the tenant)."""
    rows = await conn.fetch(f"SELECT agent_id, {SETTINGS_COLUMNS} FROM agent_settings")
    return {row["agent_id"]: row for row in rows}


async def load_agent_state(conn: asyncpg.Connection, spec: AgentSpec) -> AgentState:
    """One agent's state in effect for the tenant (in a tenant transaction): the run workflow's policy and the
    gateway's view of the agent read it alike."""
    row = await conn.fetchrow(f"SELECT {SETTINGS_COLUMNS} FROM agent_settings WHERE agent_id = $1", spec.id)
    return agent_state(spec, row)


@dataclass(frozen=True)
class TenantLimits:
    daily_token_budget: int
    max_concurrent_runs: int
    updated_at: datetime | None = None


def tenant_limits(config: AgentsConfig, row: asyncpg.Record | dict | None) -> TenantLimits:
    """The tenant's own limits where it set them, never above the deployment's, which are also the defaults: a tenant
    may spend less of the shared language model, not take more of it (docs/decisions.md)."""
    budget, concurrent = config.agent_daily_token_budget, config.agent_max_concurrent_runs
    if row is None:
        return TenantLimits(budget, concurrent)
    if row["daily_token_budget"] is not None:
        budget = min(budget, row["daily_token_budget"])
    if row["max_concurrent_runs"] is not None:
        concurrent = min(concurrent, row["max_concurrent_runs"])
    return TenantLimits(budget, concurrent, row["updated_at"])


async def load_tenant_limits(conn: asyncpg.Connection, config: AgentsConfig) -> TenantLimits:
    row = await conn.fetchrow("SELECT daily_token_budget, max_concurrent_runs, updated_at FROM agent_limits")
    return tenant_limits(config, row)


async def enable_agents(conn: asyncpg.Connection, tenant_id: str, agent_ids: list[str]) -> None:
    """Turn agents on for the tenant, leaving how freely each acts as it was (onboarding's first automations; the
    ids are catalog ids the caller checked)."""
    await conn.executemany(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, $2, true) "
        "ON CONFLICT (tenant_id, agent_id) DO UPDATE SET enabled = true, updated_at = now()",
        [(tenant_id, agent_id) for agent_id in agent_ids],
    )

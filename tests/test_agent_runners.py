"""The agent.run.v1 runner (POST /v1/agents/{agent}/runs): a clear failure for an agent that is not in the catalog
or not enabled, and a run asked of the run workflow (seen through Temporal itself) for an enabled one. The latter
needs agents/temporal/client.py (request_run, the run workflow's branch) and skips until it is there."""

from __future__ import annotations

import pytest
from factories import running, wait_for
from gateway_helpers import Gateway
from temporalio.client import Client

from agents.runs import RunRequest, run_workflow_id
from consumers.commands import RunnerContext, commands_group
from db.pool import tenant_transaction


async def _ask(gw: Gateway, key: str, agent: str) -> str:
    body = {"prompt": "check it", "inputs": {"n": 1}}
    resp = await gw.post(f"/v1/agents/{agent}/runs", json=body, headers=gw.bearer(key))
    assert resp.status == 202, await resp.text()
    return (await resp.json())["id"]


async def _outcomes(gw: Gateway, key: str, ids: list[str]) -> dict | None:
    found = {}
    for command_id in ids:
        body = await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json()
        if body["status"] == "accepted":
            return None
        found[command_id] = (body["status"], body["reason"])
    return found


async def test_an_unknown_or_disabled_agent_fails_the_command_with_the_reason(gw: Gateway, redis, pool):
    tenant, key = await gw.create_tenant()
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, 'lead-scoring', false)", tenant
        )
    unknown, no_row, disabled = [await _ask(gw, key, a) for a in ("no-such-agent", "order-fulfilment", "lead-scoring")]
    # no Temporal at all: these must fail on their own, never wait for one
    async with running(redis, [commands_group(RunnerContext(pool, redis, None))]):
        outcomes = await wait_for(lambda: _outcomes(gw, key, [unknown, no_row, disabled]))
    assert outcomes[unknown] == (
        "failed",
        "PermanentError: no agent 'no-such-agent' in the catalog (GET /v1/agents lists them)",
    )
    for command_id, agent in ((no_row, "order-fulfilment"), (disabled, "lead-scoring")):
        assert outcomes[command_id] == (
            "failed",
            f"PermanentError: agent '{agent}' is not enabled for this tenant (PATCH /v1/agents/{agent})",
        )


async def test_an_enabled_agent_gets_a_run_asked_of_its_workflow(gw: Gateway, redis, pool, temporal_server):
    pytest.importorskip("agents.temporal.client", reason="request_run lands with the run workflow (agent-runs)")
    tenant, key = await gw.create_tenant()
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, 'order-fulfilment', true)", tenant
        )
    command_id = await _ask(gw, key, "order-fulfilment")
    client = await Client.connect(temporal_server.url)
    async with running(redis, [commands_group(RunnerContext(pool, redis, client))]):
        outcomes = await wait_for(lambda: _outcomes(gw, key, [command_id]))
    workflow_id = run_workflow_id(RunRequest(tenant_id=tenant, agent="order-fulfilment", trigger_id=command_id))
    assert outcomes[command_id][0] == "completed", outcomes
    assert workflow_id in outcomes[command_id][1]
    assert (await client.get_workflow_handle(workflow_id).describe()).id == workflow_id

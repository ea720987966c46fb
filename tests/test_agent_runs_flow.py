"""Issue 11's first measure, through the product's own parts: an order updated ten times within the coalescing
window wakes the order-fulfilment agent once (the agents group and its run starter), the run's proposal is visible
on GET /v1/agent-runs with its citations (the projector), approving it over the API (a command, its runner,
decide_run) turns the proposed action into a connector.action.v1 command, and rejecting another run issues nothing.

Real Redis, Postgres, Temporal dev server, the real crew against tests/llm_server.py (the run workflow's branch):
skipped until agents/temporal is there."""

from __future__ import annotations

import msgspec
import pytest

pytest.importorskip("agents.temporal.worker", reason="the run workflow lands with branch agent-runs")

from agent_helpers import insert_record, llm_config, starting
from factories import order, running, wait_for
from gateway_helpers import Gateway
from temporalio.client import Client
from webhook_support import connector_body

from agents.temporal.activities import AgentDeps
from agents.temporal.worker import build_worker
from consumers.agents import agents_group
from consumers.commands import RunnerContext, commands_group
from consumers.projector import projector_group
from db.pool import tenant_transaction
from events import codec
from events.streams import COMMANDS_STREAM, DEFAULT_PARTITIONS
from producers.publisher import Publisher

ANSWER = {"can_ship": True, "summary": "Line 799 is in stock", "blockers": []}
RESTOCK = {"action": "woocommerce.update_stock", "input": {"product_id": "799", "stock_quantity": 11}, "reason": "x"}


def _processing(tenant: str, number: str, version: int, source: str):
    event = order(tenant, number, version=version, source=source)
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, status="processing"))


async def _runs(gw: Gateway, key: str, **params) -> list[dict]:
    return (await (await gw.get("/v1/agent-runs", params=params, headers=gw.bearer(key))).json())["items"]


async def test_ten_updates_one_run_approved_over_the_api_becomes_a_command_and_a_rejected_one_nothing(
    gw: Gateway, redis, pool, admin, temporal_server, llm
):
    llm.rule("order 727", json=ANSWER | {"actions": [RESTOCK]})
    llm.rule("order 728", json=ANSWER | {"actions": [RESTOCK]})
    tenant, key = await gw.create_tenant("shop")
    resp = await gw.post("/v1/connectors", headers=gw.bearer(key), json=connector_body("woocommerce", "s", "shop"))
    connector = (await resp.json())["id"]
    for number in ("727", "728"):
        await insert_record(admin, tenant, "order", number, "processing", {"number": number}, source=connector)
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, 'order-fulfilment', true)", tenant
        )
    client = await Client.connect(temporal_server.url)
    deps = AgentDeps(pool, Publisher(redis), llm_config(llm, agent_coalesce_s=5.0), None)
    async with (
        build_worker(client, deps),
        starting(pool, client) as starter,
        running(redis, _groups(pool, redis, client, starter.queued)),
    ):
        updates = [_processing(tenant, "727", v, connector) for v in range(1, 11)]
        await Publisher(redis).publish([*updates, _processing(tenant, "728", 1, connector)])
        waiting = await wait_for(lambda: _two_waiting(gw, key), timeout_s=90)
        by_subject = {r["subject"]["external_id"]: r for r in waiting}
        first, second = by_subject["727"], by_subject["728"]
        assert first["triggers"] == 10 and first["trigger_id"] in {u.id for u in updates}  # ten updates, one run
        assert first["actions"] == [RESTOCK] and first["output"]["summary"] == ANSWER["summary"]
        assert first["citations"] and first["source"] == connector
        approved = await gw.post(f"/v1/agent-runs/{first['id']}/approve", headers=gw.bearer(key))
        rejected = await gw.post(f"/v1/agent-runs/{second['id']}/reject", json={"reason": "no"}, headers=gw.bearer(key))
        assert approved.status == rejected.status == 202
        done = await wait_for(lambda: _finished(gw, key, 2), timeout_s=90)
    runs = {r["id"]: r for r in done}
    assert len(await _runs(gw, key)) == 2  # one run per order, never one per update
    assert (runs[first["id"]]["decision"], len(runs[first["id"]]["commands"])) == ("approved", 1)
    assert (runs[second["id"]]["decision"], runs[second["id"]]["commands"]) == ("rejected", [])
    sent = [codec.decode_command(f[codec.EVENT_FIELD]) for _, f in await redis.xrange(COMMANDS_STREAM)]
    actions = [c for c in sent if c.type == "connector.action.v1"]
    assert [c.id for c in actions] == runs[first["id"]]["commands"]  # the rejected run issued nothing
    action = actions[0]
    assert (action.connector_id, action.action, action.input) == (connector, "update_stock", RESTOCK["input"])
    decided = [c for c in sent if c.type == "agent.run.decide.v1"]
    statuses = [await _command_status(gw, key, c.id) for c in decided]
    assert statuses == ["completed", "completed"] and action.issued_by == decided[0].issued_by


def _groups(pool, redis, client, queued) -> list:
    return [
        projector_group(pool, DEFAULT_PARTITIONS),
        agents_group(pool, DEFAULT_PARTITIONS, queued=queued),
        commands_group(RunnerContext(pool, redis, client)),
    ]


async def _two_waiting(gw: Gateway, key: str) -> list[dict] | None:
    found = await _runs(gw, key, status="awaiting_approval")
    return found if len(found) == 2 else None


async def _finished(gw: Gateway, key: str, n: int) -> list[dict] | None:
    found = await _runs(gw, key, status="completed")
    return found if len(found) == n else None


async def _command_status(gw: Gateway, key: str, command_id: str) -> str:
    return (await (await gw.get(f"/v1/commands/{command_id}", headers=gw.bearer(key))).json())["status"]

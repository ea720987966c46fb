"""GET /v1/agent-runs/{run_id}/trace on a real run: the run workflow on Temporal's dev server, the real crew against
tests/llm_server.py reading a record through its tool, the trace read back over the gateway under row-level security."""

from __future__ import annotations

import json

from agent_helpers import insert_record, llm_config
from gateway_helpers import Gateway
from temporalio.client import Client
from test_agent_runs import ANSWER, ended, request

from agents.temporal.activities import AgentDeps
from agents.temporal.client import request_run
from agents.temporal.worker import build_worker
from producers.publisher import Publisher

MODEL_KEY = "sk-trace-test-secret"  # the model's API key: must never reach an answer


async def test_a_runs_trace_shows_its_tool_calls_answer_and_tokens_to_its_tenant_only(
    gw: Gateway, redis, pool, admin, temporal_server, llm
):
    tenant, key = await gw.create_tenant("alpha")
    _, key_b = await gw.create_tenant("bravo")
    await insert_record(admin, tenant, "order", "727", "processing", {"number": "727", "status": "processing"})
    llm.rule("order 727", tool="read_records", arguments={"kind": "order", "id": "727"}, times=1, usage=(100, 10))
    llm.rule("order 727", after_tool="read_records", tool_result="processing", json=ANSWER, usage=(150, 20))
    client = await Client.connect(temporal_server.url)
    config = llm_config(llm, openai_api_key=MODEL_KEY, agent_coalesce_s=0.5)
    async with build_worker(client, AgentDeps(pool, Publisher(redis), config, None)):
        await request_run(client, request(tenant))
        completed = (await ended(redis, tenant))[-1]
    assert completed.type == "agent.run.completed.v1"

    resp = await gw.get(f"/v1/agent-runs/{completed.run_id}/trace", headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    trace = json.loads(text)
    assert (trace["run_id"], trace["agent"], trace["attempts"], trace["error"]) == (
        completed.run_id,
        "order-fulfilment",
        1,
        "",
    )
    [step] = trace["steps"]
    assert (step["tool"], step["input"]) == ("read_records", {"kind": "order", "id": "727", "limit": 5})
    assert f"rec_{tenant}_order_727" in step["output"] and "processing" in step["output"] and step["ms"] >= 0
    assert json.loads(trace["raw_answer"]) == ANSWER
    assert (trace["tokens_in"], trace["tokens_out"]) == (completed.tokens_in, completed.tokens_out) == (250, 30)
    assert MODEL_KEY not in text and key not in text

    other = await gw.get(f"/v1/agent-runs/{completed.run_id}/trace", headers=gw.bearer(key_b))
    assert other.status == 404 and (await other.json())["detail"] == "no such agent run"
    missing = await gw.get("/v1/agent-runs/run_nope/trace", headers=gw.bearer(key))
    assert missing.status == 404 and missing.content_type == "application/problem+json"


async def test_a_run_whose_crew_has_not_answered_has_no_trace_yet(gw: Gateway, admin):
    tenant, key = await gw.create_tenant("alpha")
    await admin.execute(  # the projection of a deferred run, as the projector leaves it
        "INSERT INTO agent_runs (tenant_id, run_id, agent, status, status_rank, status_at, reason) "
        "VALUES ($1, 'run_deferred', 'order-fulfilment', 'deferred', 1, now(), 'over budget')",
        tenant,
    )
    resp = await gw.get("/v1/agent-runs/run_deferred/trace", headers=gw.bearer(key))
    assert resp.status == 404 and (await resp.json())["detail"] == "the run has no trace yet"

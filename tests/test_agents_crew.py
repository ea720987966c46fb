"""Crews built from catalog entries, run for real (CrewAI and the openai client) against tests/llm_server.py, with
tools that read under the tenant's row-level security."""

from __future__ import annotations

import asyncio
import json

from agent_helpers import insert_record, llm_config

from agents.catalog import catalog
from agents.crew import build_crew, build_llm, run_crew
from agents.tools import ToolContext, Trace, tools_for

SHIPPABLE = {"can_ship": True, "summary": "Line 799 is in stock", "blockers": []}
BLOCKED = {"can_ship": False, "summary": "This order was cancelled", "blockers": ["cancelled"]}


def context(pool, tenant: str, agent: str) -> ToolContext:
    return ToolContext(tenant, catalog()[agent], pool, asyncio.get_running_loop(), None, Trace())


async def test_every_catalog_entry_builds_a_crew_without_calling_the_model(llm, pool):
    config = llm_config(llm)
    for spec in catalog().values():
        ctx = context(pool, "tenant-a", spec.id)
        crew = build_crew(spec, build_llm(config), tools_for(ctx), "The subject: nothing yet.", config)
        assert [t.name for t in crew.agents[0].tools] == spec.tools
        assert crew.agents[0].role == spec.role and crew.tasks[0].agent is crew.agents[0]
    assert len(catalog()) >= 2 and llm.requests == []


async def test_a_crew_reads_its_tenants_record_through_a_tool_and_answers_valid_json(llm, pool, admin):
    for tenant, status in (("tenant-a", "processing"), ("tenant-b", "cancelled")):  # the same order number in both
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
        await insert_record(admin, tenant, "order", "727", status, {"number": "727", "status": status})
    llm.rule("order 727", tool="read_records", arguments={"kind": "order", "id": "727"})
    llm.rule("order 727", after_tool="read_records", tool_result='"status": "processing"', json=SHIPPABLE)
    llm.rule("order 727", after_tool="read_records", tool_result='"status": "cancelled"', json=BLOCKED)
    config = llm_config(llm)
    spec = catalog()["order-fulfilment"]
    answers = {}
    for tenant in ("tenant-a", "tenant-b"):
        ctx = context(pool, tenant, spec.id)
        answer = await asyncio.to_thread(run_crew, spec, config, tools_for(ctx), "The subject is order 727.")
        answers[tenant] = (answer, ctx.trace)
    (a, trace_a), (b, trace_b) = answers["tenant-a"], answers["tenant-b"]
    assert (a.output, a.error, a.attempts) == (SHIPPABLE, "", 1)
    assert b.output == BLOCKED  # tenant B's tool saw B's order only
    assert [s["tool"] for s in trace_a.steps] == ["read_records"]
    assert "processing" in trace_a.steps[0]["output"] and "cancelled" not in trace_a.steps[0]["output"]
    assert "processing" not in trace_b.steps[0]["output"]
    assert list(trace_a.citations) == ["rec_tenant-a_order_727"]
    assert a.tokens_in > 0 and a.tokens_out > 0  # the server's usage, summed over the two model calls
    assert all(r["model"] == llm.model for r in llm.requests)


async def test_an_invalid_answer_gets_one_repair_then_fails_with_the_validation_error(llm, pool):
    llm.rule("", text='{"can_ship": "maybe"}', times=1)
    llm.rule("It was refused", json=SHIPPABLE, times=1)
    spec, config = catalog()["order-fulfilment"], llm_config(llm)
    answer = await asyncio.to_thread(run_crew, spec, config, [], "The subject is order 9.")
    assert (answer.output, answer.attempts) == (SHIPPABLE, 2)
    assert "can_ship" in str(llm.requests[-1]["messages"])  # the repair request carried the error
    llm.rule("", text="I cannot answer in JSON")
    answer = await asyncio.to_thread(run_crew, spec, config, [], "The subject is order 10.")
    assert answer.output is None and answer.attempts == 2
    assert answer.error.startswith("the answer is not a JSON object")


async def test_query_aggregates_reads_a_fixed_view_of_its_own_tenant_only(pool, admin):
    from agents.tools import QueryAggregates

    for tenant, orders in (("tenant-a", 1), ("tenant-b", 2)):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
        for n in range(orders):
            await insert_record(admin, tenant, "order", str(n), "processing", {"number": str(n)})
    ctx = context(pool, "tenant-a", "order-fulfilment")
    answer = await asyncio.to_thread(QueryAggregates(ctx=ctx).run, name="record_counts")
    assert json.loads(answer) == [{"kind": "order", "provider": "woocommerce", "live": 1, "deleted": 0}]
    refused = await asyncio.to_thread(QueryAggregates(ctx=ctx).run, name="DROP TABLE records")
    assert refused.startswith("error: this agent may read only the aggregates")
    assert [s["tool"] for s in ctx.trace.steps] == ["query_aggregates", "query_aggregates"]

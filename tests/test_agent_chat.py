"""The personal agent (POST /v1/agent/chat) against the local OpenAI-compatible server (tests/llm_server.py): the
real openai client streams, calls tools that read under row-level security, and every answer lists what it used."""

from __future__ import annotations

import json

import pytest
from factories import local_http_server, order, running, wait_for
from llm_server import LLMServer

from consumers.projector import projector_group
from producers.publisher import Publisher


@pytest.fixture
async def llm():
    server = LLMServer()
    async with local_http_server(server.app()) as base:
        server.url = f"{base}/v1"
        yield server


@pytest.fixture
async def shop(make_gateway, llm, redis, pool, admin):
    """Two tenants holding near-identical orders (B's amounts ten times A's), projected by the real projector."""
    gw = await make_gateway(openai_base_url=llm.url, openai_api_key="sk-local")
    tenants = {name: await gw.create_tenant(name) for name in ("shop-a", "shop-b")}
    events = [
        order(tid, number, total_minor=total * scale, source=f"woo-{name}")
        for (name, (tid, _)), scale in zip(tenants.items(), (1, 10))
        for number, total in (("1001", 3000), ("1002", 1500))
    ]
    async with running(redis, [projector_group(pool, 8)]):
        await Publisher(redis).publish(events)
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records"), len(events))
    return gw, tenants


async def chat(gw, key: str, message: str, conversation_id: str | None = None) -> list[tuple[str, dict]]:
    """POST a turn and read the whole event stream as (event, data) pairs."""
    body = {"message": message} | ({"conversation_id": conversation_id} if conversation_id else {})
    resp = await gw.post("/v1/agent/chat", json=body, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for block in (await resp.text()).strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def answer(events) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


async def test_an_answer_streams_with_the_records_it_used(shop, llm, admin):
    gw, tenants = shop
    _, key_a = tenants["shop-a"]
    llm.rule("order 1001", tool="find_records", arguments={"kind": "order", "text": "1001"}, times=1)
    reply = "Order 1001 is 30.00 EUR."
    llm.rule("order 1001", after_tool="find_records", tool_result='"total_minor": 3000', text=reply)
    events = await chat(gw, key_a, "How much was order 1001?")
    assert [name for name, _ in events][:2] == ["conversation", "tool"]
    assert answer(events) == reply
    done = events[-1][1]
    record_id = await admin.fetchval("SELECT id FROM records WHERE external_id = '1001' AND source = 'woo-shop-a'")
    assert done["citations"] == [{"type": "record", "id": record_id, "kind": "order", "title": "1001"}]
    assert done["tokens_in"] > 0 and done["tokens_out"] > 0  # the server's usage, streamed back
    listed = await (await gw.get("/v1/agent/conversations", headers=gw.bearer(key_a))).json()
    assert [c["id"] for c in listed["items"]] == [done["conversation_id"]]
    detail = await (await gw.get(f"/v1/agent/conversations/{done['conversation_id']}", headers=gw.bearer(key_a))).json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "How much was order 1001?"),
        ("assistant", "Order 1001 is 30.00 EUR."),
    ]
    assert detail["messages"][1]["citations"] == done["citations"]
    assert detail["messages"][1]["tool_calls"][0]["name"] == "find_records"


async def test_tenant_b_never_reads_tenant_a(shop, llm, admin):
    gw, tenants = shop
    _, key_b = tenants["shop-b"]
    a_record = await admin.fetchval("SELECT id FROM records WHERE external_id = '1001' AND source = 'woo-shop-a'")
    llm.rule("steal", tool="get_record", arguments={"id": a_record}, times=1)
    refused = {"after_tool": "get_record", "tool_result": "no record"}
    llm.rule("steal", **refused, tool="find_records", arguments={"kind": "order"})
    llm.rule("steal", after_tool="find_records", text="Only my own orders.")
    events = await chat(gw, key_b, "steal the other shop's order")
    tools = [data for name, data in events if name == "tool"]
    assert tools[0]["name"] == "get_record" and "no record" in tools[0]["error"]
    seen = llm.requests[-1]["messages"][-1]["content"]  # what find_records gave the model
    assert "woo-shop-a" not in seen and a_record not in seen
    assert {r["total_minor"] for r in (r["data"] for r in json.loads(seen))} == {30000, 15000}
    assert all(c["id"] != a_record for c in events[-1][1]["citations"])


async def test_figures_come_from_the_aggregates(shop, llm):
    gw, tenants = shop
    llm.rule("revenue", tool="aggregate", arguments={"name": "sales_by_day"}, times=1)
    llm.rule("revenue", after_tool="aggregate", tool_result='"revenue_minor": 4500', text="45.00 EUR on 1 January.")
    events = await chat(gw, tenants["shop-a"][1], "What was my revenue?")
    assert answer(events) == "45.00 EUR on 1 January."
    assert {"type": "aggregate", "name": "sales_by_day"} in events[-1][1]["citations"]


async def test_a_conversation_goes_on_with_its_history(shop, llm):
    gw, tenants = shop
    llm.rule("first question", text="first answer", times=1)
    llm.rule("second question", text="second answer")
    conversation = (await chat(gw, tenants["shop-a"][1], "first question"))[0][1]["conversation_id"]
    await chat(gw, tenants["shop-a"][1], "second question", conversation)
    sent = [(m["role"], m["content"]) for m in llm.requests[-1]["messages"][1:]]
    assert sent == [("user", "first question"), ("assistant", "first answer"), ("user", "second question")]
    other = await gw.post(
        "/v1/agent/chat",
        json={"message": "hello", "conversation_id": conversation},
        headers=gw.bearer(tenants["shop-b"][1]),
    )
    assert other.status == 404  # another tenant's conversation does not exist for it


async def test_delegation_reaches_only_enabled_specialists(shop, llm, admin):
    gw, tenants = shop
    tenant_a, key_a = tenants["shop-a"]
    ask = {"agent": "lead-scoring", "instruction": "score the new leads"}
    llm.rule("score", tool="delegate", arguments=ask, times=1)
    llm.rule("score", after_tool="delegate", tool_result="not an enabled specialist", text="It is not enabled.")
    events = await chat(gw, key_a, "score my leads")
    assert answer(events) == "It is not enabled."
    await admin.execute(
        "INSERT INTO agent_settings (tenant_id, agent_id, enabled) VALUES ($1, 'lead-scoring', true)", tenant_a
    )
    llm.rule("score", tool="delegate", arguments=ask, times=1)
    llm.rule("score", after_tool="delegate", tool_result='"command": "cmd_', text="Asked the lead scorer.")
    events = await chat(gw, key_a, "score my leads")
    command = next(c["command"] for c in events[-1][1]["citations"] if c["type"] == "agent_run_request")
    row = await admin.fetchrow("SELECT tenant_id, type, body FROM commands WHERE id = $1", command)
    assert (row["tenant_id"], row["type"]) == (tenant_a, "agent.run.v1")
    assert json.loads(row["body"])["agent"] == "lead-scoring"


async def test_without_a_model_chat_says_which_setting_to_set(make_gateway):
    gw = await make_gateway(openai_base_url="", openai_api_key="")
    _, key = await gw.create_tenant("no-llm")
    resp = await gw.post("/v1/agent/chat", json={"message": "hi"}, headers=gw.bearer(key))
    assert resp.status == 503
    assert "set OPENAI_BASE_URL" in (await resp.json())["detail"]


async def usage_rows(admin, tenant: str) -> list[tuple[str, int, bool]]:
    rows = await admin.fetch(
        "SELECT agent_id, tokens, released_at IS NOT NULL AS released FROM agent_run_usage WHERE tenant_id = $1 "
        "ORDER BY admitted_at",
        tenant,
    )
    return [(r["agent_id"], r["tokens"], r["released"]) for r in rows]


async def test_a_turn_spends_the_daily_token_budget_and_past_it_chat_is_refused(shop, llm, admin):
    gw, tenants = shop
    (tenant_a, key_a), (tenant_b, key_b) = tenants["shop-a"], tenants["shop-b"]
    llm.rule("order 1001", tool="find_records", arguments={"kind": "order", "text": "1001"}, times=1, usage=(300, 12))
    llm.rule("order 1001", after_tool="find_records", text="30.00 EUR.", usage=(400, 5))
    done = (await chat(gw, key_a, "How much was order 1001?"))[-1][1]
    assert (done["tokens_in"], done["tokens_out"]) == (700, 17)  # both calls, as the server reported them
    assert await usage_rows(admin, tenant_a) == [("personal", 717, True)]  # a turn holds no concurrency slot
    assert await usage_rows(admin, tenant_b) == []

    for key in (key_a, key_b):  # both tenants get the same budget; only A has spent it
        limited = await gw.patch("/v1/agent-limits", json={"daily_token_budget": 717}, headers=gw.bearer(key))
        assert limited.status == 200, await limited.text()
    asked = len(llm.requests)
    refused = await gw.post("/v1/agent/chat", json={"message": "How much was order 1001?"}, headers=gw.bearer(key_a))
    assert refused.status == 429 and refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["type"] == "urn:bizosaas:problem:token-budget"
    assert "used 717 of its 717 tokens today" in problem["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 86401  # the next UTC midnight
    assert len(llm.requests) == asked  # the model was not called
    assert await admin.fetchval("SELECT count(*) FROM agent_messages WHERE tenant_id = $1", tenant_a) == 2

    llm.rule("revenue", text="45.00 EUR.", usage=(40, 3))
    assert answer(await chat(gw, key_b, "What was my revenue?")) == "45.00 EUR."  # B's budget is B's
    assert await usage_rows(admin, tenant_b) == [("personal", 43, True)]


async def test_a_turn_the_model_fails_part_way_still_charges_what_it_used(shop, llm, admin):
    gw, tenants = shop
    tenant_a, key_a = tenants["shop-a"]
    llm.rule("order 1001", tool="find_records", arguments={"kind": "order", "text": "1001"}, times=1, usage=(90, 6))
    # no rule answers after the tool: the server fails the second call (500, and so does the client's one retry)
    events = await chat(gw, key_a, "How much was order 1001?")
    assert [name for name, _ in events] == ["conversation", "tool", "error"]
    assert len(llm.requests) == 3
    assert await usage_rows(admin, tenant_a) == [("personal", 96, True)]


async def test_the_tenants_answer_to_onboardings_personal_agent_step_turns_chat_off_and_on(shop, llm, admin):
    gw, tenants = shop
    (tenant_a, key_a), (_, key_b) = tenants["shop-a"], tenants["shop-b"]
    llm.rule("Hello", text="Hello to you.")
    # a tenant still before step 5 has not answered it: its personal agent is on (one the API made has no profile)
    await admin.execute("INSERT INTO tenant_profiles (tenant_id, onboarding_step) VALUES ($1, 'agent')", tenant_a)
    assert answer(await chat(gw, key_a, "Hello?")) == "Hello to you."

    # "Not now" at step 5 (gateway/portal/onboarding.py): personal_agent false and the tenant past the step
    turned_off = (
        "UPDATE tenant_profiles SET personal_agent = false, onboarding_step = 'automations' WHERE tenant_id = $1"
    )
    await admin.execute(turned_off, tenant_a)
    asked = len(llm.requests)
    resp = await gw.post("/v1/agent/chat", json={"message": "Hello?"}, headers=gw.bearer(key_a))
    assert resp.status == 409 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == "urn:bizosaas:problem:personal-agent-off"
    assert "/portal/onboarding?step=agent" in problem["detail"]  # where it is turned on again
    assert len(llm.requests) == asked  # no model called ...
    assert await admin.fetchval("SELECT count(*) FROM agent_messages WHERE tenant_id = $1", tenant_a) == 2  # nor kept
    assert answer(await chat(gw, key_b, "Hello?")) == "Hello to you."  # another tenant's setting is its own

    await admin.execute("UPDATE tenant_profiles SET personal_agent = true WHERE tenant_id = $1", tenant_a)
    assert answer(await chat(gw, key_a, "Hello?")) == "Hello to you."  # read on every turn: on again at once

"""GET /v1/agents, PATCH /v1/agents/{agent} and /v1/agent-limits over HTTP against the real gateway and Postgres:
the catalog with each tenant's own state (row-level security), paging and filters, the rules a tenant admin's
changes must follow (each refusal a 422 naming its field), and the budget capped by the deployment's."""

from __future__ import annotations

from gateway_helpers import Gateway

from agents.catalog import CATEGORIES, catalog
from db.pool import tenant_transaction

PROBLEM = "application/problem+json"


async def _json(resp, status: int = 200):
    body = await resp.json(content_type=None)
    assert resp.status == status, body
    return body


async def _patch(gw: Gateway, key: str, url: str, body: dict, status: int = 200):
    return await _json(await gw.patch(url, json=body, headers=gw.bearer(key)), status)


async def test_the_catalog_pages_and_filters(gw: Gateway):
    _, key = await gw.create_tenant("catalog-reader")
    seen, url = [], "/v1/agents?limit=40"
    while url:
        page = await _json(await gw.get(url, headers=gw.bearer(key)))
        assert len(page["items"]) <= 40
        seen += page["items"]
        url = f"/v1/agents?limit=40&cursor={page['next']}" if page["next"] else None
    ids = [item["id"] for item in seen]
    assert ids == sorted(catalog()) and len(ids) == 93
    fulfilment = next(item for item in seen if item["id"] == "order-fulfilment")
    assert fulfilment["actions"] == ["woocommerce.update_stock"]
    assert fulfilment["triggers"][0]["event"] == "commerce.order.upserted"
    assert "actions" in fulfilment["output_schema"]["properties"]  # the proposals' field of an acting agent
    assert fulfilment["reads"]["records"] == ["order", "product", "contact"]
    # a new tenant: every agent disabled, at its catalog autonomy, never acting without approval
    assert all(not i["enabled"] and i["autonomy"] == i["default_autonomy"] for i in seen)
    assert not any(i["act_without_approval"] or i["updated_at"] for i in seen)

    for category, count in CATEGORIES.items():
        page = await _json(await gw.get(f"/v1/agents?category={category}&limit=500", headers=gw.bearer(key)))
        assert len(page["items"]) == count and page["next"] is None
        assert {item["category"] for item in page["items"]} == {category}

    one = await _json(await gw.get("/v1/agents/lead-scoring", headers=gw.bearer(key)))
    assert one["role"] == catalog()["lead-scoring"].role and one["enabled"] is False

    wrong = await gw.get("/v1/agents?category=astrology", headers=gw.bearer(key))
    assert wrong.status == 422 and wrong.content_type == PROBLEM and "category" in (await wrong.json())["detail"]
    unknown = await gw.get("/v1/agents/no-such-agent", headers=gw.bearer(key))
    assert unknown.status == 404 and unknown.content_type == PROBLEM
    forged = await gw.get("/v1/agents?cursor=bm90LWEtY3Vyc29y", headers=gw.bearer(key))
    assert forged.status == 400 and forged.content_type == PROBLEM


async def test_an_admin_enables_an_agent_for_its_tenant_only(gw: Gateway, pool):
    tenant_a, key_a = await gw.create_tenant("agents-alpha")
    tenant_b, key_b = await gw.create_tenant("agents-bravo")
    enabled = await _patch(gw, key_a, "/v1/agents/lead-scoring", {"enabled": True})
    assert enabled["enabled"] is True and enabled["autonomy"] == "suggest" and enabled["updated_at"]

    only = await _json(await gw.get("/v1/agents?enabled=true", headers=gw.bearer(key_a)))
    assert [item["id"] for item in only["items"]] == ["lead-scoring"]
    # tenant B sees the same catalog and none of A's state
    assert (await _json(await gw.get("/v1/agents?enabled=true", headers=gw.bearer(key_b))))["items"] == []
    b_view = await _json(await gw.get("/v1/agents/lead-scoring", headers=gw.bearer(key_b)))
    assert b_view["enabled"] is False and b_view["updated_at"] is None
    await _patch(gw, key_b, "/v1/agents/order-fulfilment", {"enabled": True})
    a_enabled = await _json(await gw.get("/v1/agents?enabled=true", headers=gw.bearer(key_a)))
    assert [item["id"] for item in a_enabled["items"]] == ["lead-scoring"]

    # the rows are the tenants' own, under row-level security
    for tenant, agent in ((tenant_a, "lead-scoring"), (tenant_b, "order-fulfilment")):
        async with tenant_transaction(pool, tenant) as conn:
            rows = await conn.fetch("SELECT tenant_id, agent_id, enabled FROM agent_settings")
        assert [tuple(r) for r in rows] == [(tenant, agent, True)]

    disabled = await _patch(gw, key_a, "/v1/agents/lead-scoring", {"enabled": False})
    assert disabled["enabled"] is False
    assert (await _json(await gw.get("/v1/agents?enabled=true", headers=gw.bearer(key_a))))["items"] == []
    assert (await _json(await gw.get("/v1/agents?enabled=false&limit=500", headers=gw.bearer(key_a))))["next"] is None


async def test_autonomy_and_acting_without_approval_follow_the_entry(gw: Gateway):
    _, key = await gw.create_tenant("agents-autonomy")
    # an agent without actions can only suggest
    refused = await _patch(gw, key, "/v1/agents/lead-scoring", {"autonomy": "act"}, 422)
    assert refused["errors"][0].startswith("autonomy:")
    # an acting agent may act at once where the tenant allows it ...
    act = await _patch(gw, key, "/v1/agents/order-fulfilment", {"enabled": True, "act_without_approval": True})
    assert (act["enabled"], act["autonomy"], act["act_without_approval"]) == (True, "act", True)
    # ... and lowering it to suggest withdraws that permission
    suggest = await _patch(gw, key, "/v1/agents/order-fulfilment", {"autonomy": "suggest"})
    assert (suggest["enabled"], suggest["autonomy"], suggest["act_without_approval"]) == (True, "suggest", False)
    refused = await _patch(gw, key, "/v1/agents/order-fulfilment", {"act_without_approval": True}, 422)
    assert refused["errors"][0].startswith("act_without_approval:")
    again = await _patch(gw, key, "/v1/agents/order-fulfilment", {"autonomy": "act", "act_without_approval": True})
    assert (again["autonomy"], again["act_without_approval"]) == ("act", True)
    # null returns autonomy to the catalog entry's (order-fulfilment acts), keeping the rest
    await _patch(gw, key, "/v1/agents/order-fulfilment", {"autonomy": "suggest"})
    entry = await _patch(gw, key, "/v1/agents/order-fulfilment", {"autonomy": None, "act_without_approval": True})
    assert (entry["enabled"], entry["autonomy"], entry["act_without_approval"]) == (True, "act", True)
    # wrong values are answered 422 naming the field; unknown fields and agents are refused
    for body, field in (
        ({"enabled": "yes"}, "enabled"),
        ({"autonomy": "sometimes"}, "autonomy"),
        ({"act_without_approval": 1}, "act_without_approval"),
        ({"enabled": None}, "enabled"),
        ({"budget": 3}, "budget"),
    ):
        problem = await _patch(gw, key, "/v1/agents/order-fulfilment", body, 422)
        assert field in problem["detail"], (body, problem)
    await _patch(gw, key, "/v1/agents/no-such-agent", {"enabled": True}, 404)
    unchanged = await _json(await gw.get("/v1/agents/order-fulfilment", headers=gw.bearer(key)))
    assert (unchanged["enabled"], unchanged["autonomy"], unchanged["act_without_approval"]) == (True, "act", True)


async def test_only_a_tenant_admin_changes_agents(gw: Gateway):
    _, admin = await gw.create_tenant("agents-roles")
    for role in ("manager", "user"):
        key = await gw.create_key(admin, role)
        assert (await gw.get("/v1/agents?limit=1", headers=gw.bearer(key))).status == 200
        assert (await gw.get("/v1/agent-limits", headers=gw.bearer(key))).status == 200
        await _patch(gw, key, "/v1/agents/lead-scoring", {"enabled": True}, 403)
        await _patch(gw, key, "/v1/agent-limits", {"max_concurrent_runs": 1}, 403)


async def test_the_budget_is_the_tenants_within_the_deployments(make_gateway):
    gw = await make_gateway(agent_daily_token_budget=50_000, agent_max_concurrent_runs=3)
    _, key_a = await gw.create_tenant("budget-alpha")
    _, key_b = await gw.create_tenant("budget-bravo")
    defaults = await _json(await gw.get("/v1/agent-limits", headers=gw.bearer(key_a)))
    assert defaults == {
        "daily_token_budget": 50_000,
        "max_concurrent_runs": 3,
        "deployment_daily_token_budget": 50_000,
        "deployment_max_concurrent_runs": 3,
        "updated_at": None,
    }
    lowered = await _patch(gw, key_a, "/v1/agent-limits", {"daily_token_budget": 1_000})
    assert (lowered["daily_token_budget"], lowered["max_concurrent_runs"]) == (1_000, 3) and lowered["updated_at"]
    lowered = await _patch(gw, key_a, "/v1/agent-limits", {"max_concurrent_runs": 1})
    assert (lowered["daily_token_budget"], lowered["max_concurrent_runs"]) == (1_000, 1)  # the budget stays
    assert (await _json(await gw.get("/v1/agent-limits", headers=gw.bearer(key_b))))["daily_token_budget"] == 50_000

    for body, field in (
        ({"daily_token_budget": 50_001}, "daily_token_budget"),  # above the deployment's
        ({"max_concurrent_runs": 4}, "max_concurrent_runs"),
        ({"max_concurrent_runs": 0}, "max_concurrent_runs"),
        ({"daily_token_budget": -1}, "daily_token_budget"),
        ({"daily_token_budget": "lots"}, "daily_token_budget"),
    ):
        problem = await _patch(gw, key_a, "/v1/agent-limits", body, 422)
        assert field in problem["detail"], (body, problem)

    reset = await _patch(gw, key_a, "/v1/agent-limits", {"daily_token_budget": None})
    assert (reset["daily_token_budget"], reset["max_concurrent_runs"]) == (50_000, 1)
    zero = await _patch(gw, key_a, "/v1/agent-limits", {"daily_token_budget": 0})  # agents paused for the day
    assert zero["daily_token_budget"] == 0


async def test_what_is_in_effect_follows_the_deployment_and_the_catalog(make_gateway, pool):
    """Rows written under older rules: a budget above a since-lowered deployment value, and `act` stored for an
    agent that has no action (the catalog may drop one). What is in effect never exceeds what is allowed now."""
    before = await make_gateway(agent_daily_token_budget=50_000, agent_max_concurrent_runs=3)
    tenant, key = await before.create_tenant("rules-now")
    await _patch(before, key, "/v1/agent-limits", {"daily_token_budget": 40_000, "max_concurrent_runs": 3})
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO agent_settings (tenant_id, agent_id, enabled, autonomy, act_without_approval) "
            "VALUES ($1, 'lead-scoring', true, 'act', true)",
            tenant,
        )
    after = await make_gateway(agent_daily_token_budget=30_000, agent_max_concurrent_runs=2)
    limits = await _json(await after.get("/v1/agent-limits", headers=after.bearer(key)))
    assert (limits["daily_token_budget"], limits["max_concurrent_runs"]) == (30_000, 2)
    view = await _json(await after.get("/v1/agents/lead-scoring", headers=after.bearer(key)))
    assert (view["enabled"], view["autonomy"], view["act_without_approval"]) == (True, "suggest", False)

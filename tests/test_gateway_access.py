"""Access control over the whole route table: every route with every role, and tenant isolation on every read route.

Both tests enumerate the routes the application serves, so a route added later is covered (or fails here until
the test knows how to fill its path parameters).
"""

from __future__ import annotations

from factories import running, wait_for
from gateway_helpers import ADMIN_TOKEN, Gateway
from webhook_support import connector_body, fixture, woocommerce_headers

from consumers.commands import RunnerContext, commands_group
from consumers.deliveries import deliveries_group
from consumers.projector import projector_group
from db.pool import tenant_transaction
from gateway.roles import OPERATOR, PERMISSIONS, PUBLIC
from gateway.state import ROUTE_SPECS

PLACEHOLDERS = {"kind": "order", "stream": "bz:commands", "group": "projector", "agent": "helper"}


def specs_of(gw: Gateway):
    return gw.client.server.app[ROUTE_SPECS]


def fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    assert "{" not in template.replace("%7B", ""), f"no value for a path parameter of {template}"
    return template


async def test_every_route_with_every_role(make_gateway):
    gw = await make_gateway(key_burst=1000, tenant_burst=1000, auth_failure_burst=1000)
    _, admin_key = await gw.create_tenant()
    callers = {
        "admin": admin_key,
        "manager": await gw.create_key(admin_key, "manager"),
        "user": await gw.create_key(admin_key, "user"),
        "operator": ADMIN_TOKEN,
        "anonymous": None,
    }
    checked = 0
    for spec in specs_of(gw):
        url = fill(spec.template, {p: PLACEHOLDERS.get(p, "x_unknown") for p in spec.path_params})
        for caller, token in callers.items():
            headers = gw.bearer(token) if token else {}
            kwargs = {"json": {}} if spec.body is not None else {}
            resp = await gw.request(spec.method, url, headers=headers, **kwargs)
            if spec.permission == PUBLIC:
                allowed = True
            elif spec.permission == OPERATOR:
                allowed = caller == "operator"
            else:
                allowed = caller in PERMISSIONS[spec.permission]
            if allowed:
                assert resp.status not in (401, 403), (spec.method, spec.path, caller, await resp.text())
                assert resp.status < 500, (spec.method, spec.path, caller, await resp.text())
            else:
                assert resp.status == (401 if token is None else 403), (spec.method, spec.path, caller)
            checked += 1
    assert checked == 5 * len(specs_of(gw)) >= 5 * 25


async def _tenant_with_everything(gw: Gateway, name: str) -> dict[str, str]:
    """A tenant with a connector, a delivered webhook, projected records, a command and a second key."""
    tenant, key = await gw.create_tenant(name)
    resp = await gw.post(
        "/v1/connectors",
        headers=gw.bearer(key),
        json=connector_body("woocommerce", f"{name}-secret", f"{name} shop"),
    )
    connector = (await resp.json())["id"]
    body = fixture("woocommerce", "order.created.json").replace(b"john.doe@example.com", f"{name}@example.com".encode())
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Delivery-ID": f"{name}-1",
        **woocommerce_headers(body, f"{name}-secret", 0),
    }
    delivery = (await (await gw.post(f"/v1/webhooks/{connector}", data=body, headers=headers)).json())["delivery"]
    command = (await (await gw.post(f"/v1/connectors/{connector}/sync", json={}, headers=gw.bearer(key))).json())["id"]
    await gw.create_key(key, "user")
    return {
        "tenant": tenant,
        "key": key,
        "connector_id": connector,
        "delivery_id": delivery,
        "command_id": command,
        "email": f"{name}@example.com",
    }


async def test_tenant_b_never_sees_tenant_a_on_any_read_route(gw: Gateway, redis, pool):
    a = await _tenant_with_everything(gw, "alpha")
    b = await _tenant_with_everything(gw, "bravo")
    async with running(
        redis, [projector_group(pool, 8), deliveries_group(pool), commands_group(RunnerContext(pool, redis))]
    ):
        for t in (a, b):
            for kind in ("order", "contact"):
                url = f"/v1/records/{kind}"
                t[f"{kind}_id"] = (await wait_for(lambda key=t["key"], url=url: _items(gw, key, url)))[0]["id"]
            await wait_for(lambda key=t["key"]: _items(gw, key, "/v1/deliveries"))
    for t in (
        a,
        b,
    ):  # a sync run in each tenant's history (the syncs route; tests/test_connector_ops.py runs real ones)
        t["run_id"] = f"run-{t['tenant']}"
        async with tenant_transaction(pool, t["tenant"]) as conn:
            await conn.execute(
                "INSERT INTO sync_runs (tenant_id, run_id, connector_id, resource, status, started_at) "
                "VALUES ($1, $2, $3, 'orders', 'running', now())",
                t["tenant"],
                t["run_id"],
                t["connector_id"],
            )
            await conn.execute(  # and an agent run (tests/test_agent_runs_api.py projects real ones)
                "INSERT INTO agent_runs (tenant_id, run_id, agent, status, status_rank, status_at, source) "
                "VALUES ($1, $2, 'order-fulfilment', 'awaiting_approval', 2, now(), $3)",
                t["tenant"],
                t["run_id"],
                t["connector_id"],
            )
    marks = ("tenant", "connector_id", "delivery_id", "command_id", "order_id", "contact_id", "email", "run_id")
    a_marks = [a[k] for k in marks]
    # search and knowledge ("search" tag) need the indexer and a query: tests/test_rag_gateway.py proves their
    # isolation; the provider catalog holds no tenant's data (the same for everyone); the agent catalog is the same
    # for everyone too, and tests/test_gateway_agents.py proves each tenant sees its own state of it
    reads = [
        s
        for s in specs_of(gw)
        if s.method == "GET"
        and s.permission not in (PUBLIC, OPERATOR)
        and s.tag not in ("search", "agents")
        and s.template != "/v1/providers"
        and s.status == 200  # the OAuth2 authorize redirect: tests/test_oauth.py checks another tenant gets 404
    ]
    for spec in reads:
        for kind in ["order", "contact"] if "kind" in spec.path_params else [None]:
            values = {**a, **({"kind": kind, "id": a[f"{kind}_id"]} if kind else {})}
            url = fill(spec.template, {p: values[p] for p in spec.path_params})
            as_a = await gw.get(url, headers=gw.bearer(a["key"]))
            as_b = await gw.get(url, headers=gw.bearer(b["key"]))
            seen_by_a, seen_by_b = await as_a.text(), await as_b.text()
            assert as_a.status == 200, (url, seen_by_a)
            if spec.path_params and spec.path_params != ["kind"]:
                assert as_b.status == 404, (url, seen_by_b)
            leaked = [mark for mark in a_marks if mark in seen_by_b]
            assert not leaked, (url, leaked)
            if spec.template != "/v1/api-keys":  # A's own view shows A's data: the check above can fail
                assert any(mark in seen_by_a for mark in a_marks), url


async def _items(gw: Gateway, key: str, url: str) -> list:
    return (await (await gw.get(url, headers=gw.bearer(key))).json())["items"]

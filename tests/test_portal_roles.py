"""Every page for every role: a page answers 200 exactly when the role holds the permission the page declares
(gateway/roles.py, as for the JSON routes), and 403 otherwise; a POST a role may not make is refused even with the
session's own CSRF token. HTTP only (no browser): the browser tests show the same from a person's side."""

from __future__ import annotations

import re

import aiohttp
from gateway_helpers import ADMIN_TOKEN, Gateway
from portal_records import insert_delivery, insert_run
from test_portal_access import make_connector
from test_portal_flow import insert_order

from gateway.roles import OPERATOR, PERMISSIONS, PUBLIC, ROLES

# what each page needs (docs/gateway.md's table): a page declaring anything else fails here
EXPECTED = {
    ("POST", "/portal/sign-out"): PUBLIC,
    ("GET", "/portal/"): "records:read",
    ("GET", "/portal/connectors"): "connectors:read",
    ("GET", "/portal/connectors/new"): "connectors:write",
    ("POST", "/portal/connectors"): "connectors:write",
    ("GET", "/portal/connectors/{connector_id}"): "connectors:read",
    ("GET", "/portal/connectors/{connector_id}/live"): "connectors:read",
    ("POST", "/portal/connectors/{connector_id}/sync"): "commands:write",
    ("POST", "/portal/connectors/{connector_id}/schedule"): "connectors:write",
    ("POST", "/portal/connectors/{connector_id}/disconnect"): "connectors:write",
    ("GET", "/portal/data"): "records:read",
    ("GET", "/portal/search"): "records:read",
    ("GET", "/portal/data/{kind}/{record_id}"): "records:read",
    ("GET", "/portal/keys"): "keys:manage",
    ("POST", "/portal/keys"): "keys:manage",
    ("POST", "/portal/keys/{key_id}/revoke"): "keys:manage",
    ("GET", "/portal/onboarding"): PUBLIC,
    ("POST", "/portal/onboarding/account"): PUBLIC,
    ("POST", "/portal/onboarding/profile"): "tenant:manage",
    ("POST", "/portal/onboarding/services"): "tenant:manage",
    ("POST", "/portal/onboarding/credentials"): "tenant:manage",
    ("POST", "/portal/onboarding/agent"): "tenant:manage",
    ("POST", "/portal/onboarding/automations"): "tenant:manage",
    ("GET", "/portal/team"): "team:read",
    ("POST", "/portal/team/invites"): "tenant:manage",
    ("POST", "/portal/team/invites/{invite_id}/cancel"): "tenant:manage",
    ("POST", "/portal/team/members"): "tenant:manage",
    ("GET", "/portal/audit"): "audit:read",
    ("GET", "/portal/agents"): "agents:read",
    ("POST", "/portal/agents/{agent}"): "agents:manage",
    ("GET", "/portal/agent-limits"): "agents:read",
    ("POST", "/portal/agent-limits"): "agents:manage",
    ("GET", "/portal/agent-runs"): "records:read",
    ("GET", "/portal/approvals"): "records:read",
    ("GET", "/portal/agent-runs/{run_id}"): "records:read",
    ("GET", "/portal/agent-runs/{run_id}/live"): "records:read",
    ("POST", "/portal/agent-runs/{run_id}/approve"): "commands:write",
    ("POST", "/portal/agent-runs/{run_id}/reject"): "commands:write",
    ("GET", "/portal/chat"): "records:read",
    ("POST", "/portal/chat"): "records:read",
    ("POST", "/portal/chat/stream"): "records:read",
    ("GET", "/portal/connectors/{connector_id}/deliveries"): "deliveries:read",
    ("GET", "/portal/deliveries/{delivery_id}"): "deliveries:read",
    ("POST", "/portal/deliveries/{delivery_id}/retry"): "deliveries:retry",
    ("GET", "/portal/connectors/{connector_id}/oauth"): "connectors:write",
    ("GET", "/console/"): OPERATOR,
    ("GET", "/console/dead-letters/{group}"): OPERATOR,
    ("POST", "/console/dead-letters/{group}"): OPERATOR,
    ("GET", "/portal/knowledge"): "records:read",
    ("POST", "/portal/knowledge"): "commands:write",
    ("POST", "/portal/knowledge/{document_id}/delete"): "commands:write",
    ("GET", "/console/streams/{stream}"): OPERATOR,
    ("GET", "/console/replay"): OPERATOR,
    ("POST", "/console/replay"): OPERATOR,
    ("GET", "/console/health"): OPERATOR,
}


async def signed_in(gw: Gateway, credential: str, path: str) -> tuple[aiohttp.ClientSession, str]:
    """A client holding a session of `credential`, and its CSRF token."""
    session = aiohttp.ClientSession(base_url=str(gw.client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    form = await session.get(path)
    token = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)
    resp = await session.post(path, data={"credential": credential, "csrf": token}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await session.get(resp.headers["Location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    return session, csrf.group(1) if csrf else ""


def pages(gw: Gateway) -> list[tuple[str, str, str]]:
    """(method, path template, permission) of every page that needs a session, as the pages declare it."""
    found = []
    for route in gw.client.server.app.router.routes():
        permission = getattr(route.handler, "permission", None)
        if permission is not None and route.method != "HEAD":
            found.append((route.method, route.resource.canonical, permission))
    return found


async def test_every_page_answers_each_role_as_the_role_table_says(make_gateway, admin):
    gw = await make_gateway(portal_key_signin=True)
    tenant_id, admin_key = await gw.create_tenant("Acme")
    connector_id = await make_connector(gw, admin_key)
    record_id = await insert_order(admin, tenant_id, "1", "Order 1")
    values = {
        "connector_id": connector_id,
        "kind": "order",
        "record_id": record_id,
        "key_id": "key_none",
        "group": "nogroup",
        "invite_id": "inv_none",
        "document_id": "doc_none",
        "stream": "bz%3Aevents%3A%7B0%7D",
        "agent": "order-fulfilment",
        "run_id": "run_a",
        "delivery_id": await insert_delivery(admin, tenant_id, connector_id),
    }
    await insert_run(admin, tenant_id, "run_a", record_id)
    keys = {"admin": admin_key} | {role: await gw.create_key(admin_key, role) for role in ROLES if role != "admin"}
    callers = {role: await signed_in(gw, key, "/portal/sign-in") for role, key in keys.items()}
    callers[OPERATOR] = await signed_in(gw, ADMIN_TOKEN, "/console/sign-in")
    found = pages(gw)
    assert {(method, path): p for method, path, p in found} == EXPECTED
    found = [(method, path, p) for method, path, p in found if p != PUBLIC]
    checked = 0
    try:
        for method, template, permission in found:
            path = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], template)
            if path == "/portal/connectors/new":
                path += "?provider=woocommerce"
            for who, (session, csrf) in callers.items():
                allowed = permission == OPERATOR if who == OPERATOR else who in PERMISSIONS.get(permission, ())
                if method == "GET":
                    resp = await session.get(path, allow_redirects=False)
                    resp.close()  # a live page streams: its status is all this needs
                    ok = 409 if path.endswith("/oauth") else 200  # a WooCommerce connector has no OAuth2
                    assert resp.status == (ok if allowed else 403), (who, method, path, resp.status)
                elif not allowed:  # a POST the role may not make: refused before it does anything
                    resp = await session.post(path, data={"csrf": csrf, "name": "x"}, allow_redirects=False)
                    assert resp.status == 403, (who, method, path, resp.status)
                checked += 1
    finally:
        for session, _ in callers.values():
            await session.close()
    assert checked == len(found) * len(callers)
    listed = await gw.get("/v1/connectors", headers=gw.bearer(admin_key))
    assert len((await listed.json())["items"]) == 1  # no refused POST created anything

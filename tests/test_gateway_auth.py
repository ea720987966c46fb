"""Tenants, API keys, OIDC JWTs, the operator token and rate limits, against real Redis, Postgres and a local JWKS."""

from __future__ import annotations

import asyncio
import json
import subprocess

from conftest import bizosaas_command
from gateway_helpers import ADMIN_TOKEN, Gateway

from gateway.auth import hash_key

PROBLEM = "application/problem+json"


async def test_operator_creates_tenant_whose_key_works_and_is_stored_hashed(gw: Gateway, admin):
    tenant_id, key = await gw.create_tenant("acme")
    assert key.startswith("bz_")
    resp = await gw.get("/v1/tenant", headers=gw.bearer(key))
    assert resp.status == 200
    assert (await resp.json())["id"] == tenant_id and (await resp.json())["name"] == "acme"
    stored = await admin.fetchrow("SELECT hash, prefix, role FROM api_keys WHERE tenant_id = $1", tenant_id)
    assert stored["hash"] == hash_key(key) and stored["role"] == "admin"
    assert key.startswith(stored["prefix"]) and len(stored["prefix"]) < len(key) // 3
    dump = await admin.fetchval("SELECT string_agg(t::text, ' ') FROM api_keys t")
    assert key not in dump


async def test_tenant_creation_needs_the_operator(gw: Gateway):
    _, key = await gw.create_tenant()
    resp = await gw.post("/v1/tenants", json={"name": "x"}, headers=gw.bearer(key))
    assert resp.status == 403 and resp.content_type == PROBLEM
    assert (await resp.json())["type"] == "urn:bizosaas:problem:forbidden"
    resp = await gw.post("/v1/tenants", json={"name": "x"})
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await gw.post("/v1/tenants", json={"name": ""}, headers=gw.bearer(ADMIN_TOKEN))
    assert resp.status == 422 and (await resp.json())["type"] == "urn:bizosaas:problem:validation"


async def test_unknown_and_revoked_keys_are_refused(gw: Gateway):
    _, admin_key = await gw.create_tenant()
    user_key = await gw.create_key(admin_key, "user")
    assert (await gw.get("/v1/tenant", headers=gw.bearer(user_key))).status == 200
    assert (await gw.get("/v1/tenant", headers=gw.bearer("bz_00000000_nope"))).status == 401
    assert (await gw.get("/v1/tenant", headers=gw.bearer("not-a-token"))).status == 401
    listed = await (await gw.get("/v1/api-keys", headers=gw.bearer(admin_key))).json()
    assert {k["role"] for k in listed["items"]} == {"admin", "user"} and listed["next"] is None
    assert all("api_key" not in k and user_key not in json.dumps(k) for k in listed["items"])
    user_key_id = next(k["id"] for k in listed["items"] if k["role"] == "user")
    assert (await gw.delete(f"/v1/api-keys/{user_key_id}", headers=gw.bearer(admin_key))).status == 204
    assert (await gw.get("/v1/tenant", headers=gw.bearer(user_key))).status == 401
    assert (await gw.delete("/v1/api-keys/key_nope", headers=gw.bearer(admin_key))).status == 404


async def test_api_key_list_pages_with_a_cursor(gw: Gateway):
    _, admin_key = await gw.create_tenant()
    for _ in range(4):
        await gw.create_key(admin_key, "user")
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = await (await gw.get("/v1/api-keys", params=params, headers=gw.bearer(admin_key))).json()
        seen += [k["id"] for k in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    resp = await gw.get("/v1/api-keys", params={"cursor": "garbage!"}, headers=gw.bearer(admin_key))
    assert resp.status == 400


async def test_oidc_jwt_gives_tenant_and_role_from_claims(gw: Gateway, issuer):
    tenant_id, _ = await gw.create_tenant()
    token = issuer.token(bizosaas_tenant=tenant_id, bizosaas_role="user")
    resp = await gw.get("/v1/tenant", headers=gw.bearer(token))
    assert resp.status == 200 and (await resp.json())["id"] == tenant_id
    # a user may read but not manage keys
    assert (await gw.get("/v1/api-keys", headers=gw.bearer(token))).status == 403


async def test_jwt_with_bad_signature_issuer_audience_or_expiry_is_refused(gw: Gateway, issuer):
    tenant_id, _ = await gw.create_tenant()
    claims = {"bizosaas_tenant": tenant_id, "bizosaas_role": "admin"}
    good = issuer.token(**claims)
    forged = good.rsplit(".", 1)[0] + "." + issuer.token(sub="other", **claims).rsplit(".", 1)[1]
    for token in (
        forged,
        issuer.token(iss="https://evil.invalid/", **claims),
        issuer.token(aud="someone-else", **claims),
        issuer.token(ttl_s=-120, **claims),
        issuer.token(bizosaas_tenant=tenant_id, bizosaas_role="root"),  # no such role, and no operator claim
    ):
        assert (await gw.get("/v1/tenant", headers=gw.bearer(token))).status == 401


async def test_unknown_kid_refreshes_the_jwks_once(gw: Gateway, issuer):
    tenant_id, _ = await gw.create_tenant()
    claims = {"bizosaas_tenant": tenant_id, "bizosaas_role": "manager"}
    assert (await gw.get("/v1/tenant", headers=gw.bearer(issuer.token(**claims)))).status == 200
    issuer.add_key("rotated")  # the issuer rotates: a new kid appears in its JWKS
    before = issuer.fetches
    assert (await gw.get("/v1/tenant", headers=gw.bearer(issuer.token("rotated", **claims)))).status == 200
    assert issuer.fetches == before + 1
    issuer.add_key("unpublished", publish=False)
    assert (await gw.get("/v1/tenant", headers=gw.bearer(issuer.token("unpublished", **claims)))).status == 401


async def test_operator_jwt_claim_opens_admin_routes_only(gw: Gateway, issuer):
    operator = issuer.token(sub="ops", bizosaas_operator=True)
    assert (await gw.get("/v1/admin/streams", headers=gw.bearer(operator))).status == 200
    assert (await gw.get("/v1/tenant", headers=gw.bearer(operator))).status == 403
    plain = issuer.token(sub="ops", bizosaas_operator="yes")  # only a JSON true counts
    assert (await gw.get("/v1/admin/streams", headers=gw.bearer(plain))).status == 401


async def test_rate_limits_answer_429_with_retry_after_per_key_and_per_tenant(make_gateway):
    gw = await make_gateway(key_rate_per_s=1.0, key_burst=3, tenant_rate_per_s=1.0, tenant_burst=5)
    _, admin_key = await gw.create_tenant()
    other_key = await gw.create_key(admin_key, "user")  # the first of the key's 3 and of the tenant's 5
    statuses = [(await gw.get("/v1/tenant", headers=gw.bearer(admin_key))).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    resp = await gw.get("/v1/tenant", headers=gw.bearer(admin_key))
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["type"] == "urn:bizosaas:problem:rate-limited"
    # refused requests were not charged: the tenant has used 3 of 5
    assert (await gw.get("/v1/tenant", headers=gw.bearer(other_key))).status == 200
    assert (await gw.get("/v1/tenant", headers=gw.bearer(other_key))).status == 200
    assert (await gw.get("/v1/tenant", headers=gw.bearer(other_key))).status == 429  # the tenant's burst is spent
    _, another_tenant_key = await gw.create_tenant("other")
    assert (await gw.get("/v1/tenant", headers=gw.bearer(another_tenant_key))).status == 200


async def test_cli_tenant_create_prints_json_with_a_working_key(gw: Gateway, migrated):
    result = await asyncio.to_thread(
        subprocess.run,
        [*bizosaas_command(), "tenant", "create", "cli-co", "--json"],
        env=migrated.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout.strip().splitlines()[-1])
    resp = await gw.get("/v1/tenant", headers=gw.bearer(created["api_key"]))
    assert resp.status == 200 and (await resp.json()) == {**(await resp.json()), "id": created["id"]}


async def test_a_failing_jwks_is_fetched_once_per_back_off_not_once_per_token(make_gateway, issuer):
    from aiohttp import web
    from factories import local_http_server

    fetches = 0

    async def down(request: web.Request) -> web.Response:
        nonlocal fetches
        fetches += 1
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/jwks", down)
    async with local_http_server(app) as base:
        gw = await make_gateway(oidc_jwks_url=f"{base}/jwks")
        for n in range(10):  # random kids, as an attacker (or a client of a rotated issuer) sends them
            issuer.add_key(f"random-{n}", publish=False)
            resp = await gw.get("/v1/tenant", headers=gw.bearer(issuer.token(f"random-{n}")))
            assert resp.status == 401
    assert fetches == 1


async def test_services_refuse_placeholder_secrets_short_tokens_and_jwts_without_issuer(migrated):
    cases = {
        "BIZOSAAS_ADMIN_TOKEN": {"BIZOSAAS_ADMIN_TOKEN": "change-me-operator-token-0123456789abcdef"},
        "shorter than 32": {"BIZOSAAS_ADMIN_TOKEN": "short-token"},
        "BIZOSAAS_OIDC_ISSUER": {"BIZOSAAS_OIDC_JWKS_URL": "http://127.0.0.1:9/jwks", "BIZOSAAS_OIDC_ISSUER": ""},
    }
    for needle, extra in cases.items():
        for command in (["gateway", "--port", "0"], ["worker", "projector"]):
            result = await asyncio.to_thread(
                subprocess.run,
                [*bizosaas_command(), *command],
                env=migrated.env(BIZOSAAS_METRICS_PORT="0", **extra),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode != 0 and needle in result.stderr, (command, extra, result.stderr[-500:])

"""Tenants (created by the platform operator) and each tenant's API keys (managed by its admins)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from db.audit import record_audit
from db.pool import tenant_transaction
from gateway.memberships import actor_of
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, Timestamp, json_response, read_json, read_query
from gateway.state import INVALIDATOR, POOL, principal, tenant_of
from gateway.tenancy import create_tenant, insert_api_key

routes = Routes("tenants")

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Role = Literal["admin", "manager", "user"]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


class TenantCreated(msgspec.Struct):
    id: str
    api_key: str  # shown once


class Tenant(msgspec.Struct):
    id: str
    name: str
    created_at: Timestamp


class ListQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    role: Role = "user"


class ApiKey(msgspec.Struct):
    id: str
    name: str
    prefix: str  # the first characters of the key; the key itself is never shown again
    role: Role
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ApiKeyCreated(ApiKey):
    api_key: str = ""  # shown once


class ApiKeyList(msgspec.Struct):
    items: list[ApiKey]
    next: str | None


@routes.route(
    "POST",
    "/v1/tenants",
    permission="operator",
    summary="Create a tenant and its first admin API key",
    body=TenantCreate,
    response=TenantCreated,
    status=201,
)
async def post_tenant(request: web.Request) -> web.Response:
    body = await read_json(request, TenantCreate)
    created = await create_tenant(request.app[POOL], body.name)
    return json_response(TenantCreated(id=created.id, api_key=created.api_key), status=201)


@routes.route("GET", "/v1/tenant", permission="records:read", summary="The caller's tenant", response=Tenant)
async def get_tenant(request: web.Request) -> web.Response:
    return json_response(await caller_tenant(request))


async def caller_tenant(request: web.Request) -> Tenant:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow("SELECT id, name, created_at FROM tenants")
    if row is None:
        raise ProblemError("not-found", "the tenant no longer exists")
    return Tenant(**row)


KEY_COLUMNS = "id, name, prefix, role, created_at, revoked_at"


@routes.route(
    "GET",
    "/v1/api-keys",
    permission="keys:manage",
    summary="List the tenant's API keys (prefix only)",
    query=ListQuery,
    response=ApiKeyList,
)
async def list_keys(request: web.Request) -> web.Response:
    return json_response(await key_page(request, read_query(request, ListQuery)))


async def key_page(request: web.Request, query: ListQuery) -> ApiKeyList:
    items, cursor = await fetch_page(
        request,
        query,
        "api-keys",
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2)) "
        "ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    return ApiKeyList(items=[ApiKey(**r) for r in items], next=cursor)


@routes.route(
    "POST",
    "/v1/api-keys",
    permission="keys:manage",
    summary="Create an API key (shown once)",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
)
async def post_key(request: web.Request) -> web.Response:
    return json_response(await create_key(request, await read_json(request, ApiKeyCreate)), status=201)


async def create_key(request: web.Request, body: ApiKeyCreate) -> ApiKeyCreated:
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        key, key_id, created = await insert_api_key(conn, tenant, body.name, body.role)
        await record_audit(conn, tenant, actor_of(principal(request)), "key.created", key_id, {"role": body.role})
    return ApiKeyCreated(
        id=key_id, name=body.name, prefix=key.prefix, role=body.role, created_at=created, api_key=key.key
    )


@routes.route(
    "DELETE", "/v1/api-keys/{key_id}", permission="keys:manage", summary="Revoke an API key", status=204, errors=(404,)
)
async def delete_key(request: web.Request) -> web.Response:
    await revoke_key(request, request.match_info["key_id"])
    return web.Response(status=204)


async def revoke_key(request: web.Request, key_id: str) -> None:
    """Revoke a key of the caller's tenant; portal sessions signed in with it end at their next request (they look
    the key up each time, gateway/portal/sessions.py)."""
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        key_hash = await conn.fetchval(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING hash", key_id
        )
        if key_hash is not None:
            await record_audit(conn, tenant, actor_of(principal(request)), "key.revoked", key_id)
    if key_hash is None:
        raise ProblemError("not-found", "no such API key")
    await request.app[INVALIDATOR].key_revoked(key_hash)  # every gateway process, before the answer

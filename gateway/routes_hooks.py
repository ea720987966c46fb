"""Outbound webhook subscriptions (REST hooks; Zapier subscribes through them): create (the Standard Webhooks signing
secret is answered once and kept in Vault only), list, read, enable/disable, delete, rotate the secret. The attempt
log, retries, recovery and trigger samples: gateway/routes_hook_attempts.py. Delivery: consumers/outbound*.py."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from connectors.credentials import CURRENT, rotate
from connectors.public_http import NotPublicAddress, check_public_url
from connectors.signatures import new_standard_webhooks_secret
from db.pool import tenant_transaction
from events.outbound import pattern_problem
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, Timestamp, json_response, read_json, read_query
from gateway.state import CONFIG, HOOK_SECRETS, POOL, tenant_of

routes = Routes("hooks")

TargetUrl = Annotated[str, Meta(min_length=1, max_length=2048)]
Pattern = Annotated[str, Meta(min_length=1, max_length=200)]


class HookCreate(msgspec.Struct, forbid_unknown_fields=True):
    target_url: TargetUrl  # http(s), public addresses only (BIZOSAAS_ALLOW_PRIVATE_URLS in development)
    event_types: Annotated[list[Pattern], Meta(min_length=1, max_length=100)]  # types or `domain.kind.*` patterns


class HookUpdate(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class Hook(msgspec.Struct):
    id: str
    target_url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    last_delivered_at: Timestamp | None
    secret_rotated_at: Timestamp | None
    created_at: Timestamp


class HookCreated(Hook):
    secret: str  # whsec_...: shown this once


class HookSecret(msgspec.Struct):
    id: str
    secret: (
        str  # the new whsec_...: shown this once; the previous one also signs for BIZOSAAS_OUTBOUND_SECRET_OVERLAP_S
    )


class HookList(msgspec.Struct):
    items: list[Hook]
    next: str | None


class HookQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None


COLUMNS = (
    "id, target_url, event_types, enabled, disabled_reason, consecutive_failures, last_delivered_at, "
    "secret_rotated_at, created_at"
)


def _hook(row, kind: type[Hook] = Hook, **extra) -> Hook:
    return kind(**{**row, "event_types": list(row["event_types"])}, **extra)


async def check_hook(request: web.Request, body: HookCreate) -> None:
    """422 naming every bad field: a target that is not an http(s) URL of a public address, or a type pattern that
    matches no published event type."""
    errors = []
    try:
        await check_public_url(body.target_url, request.app[CONFIG].allow_private_urls)
    except (NotPublicAddress, ValueError) as exc:
        errors.append(f"target_url: {exc}")
    errors += [f"event_types[{i}]: {p}" for i, p in enumerate(map(pattern_problem, body.event_types)) if p]
    if errors:
        raise ProblemError("validation", errors[0], errors=errors)


@routes.route(
    "POST",
    "/v1/hooks",
    permission="hooks:write",
    summary="Subscribe a target URL to event types; the Standard Webhooks signing secret is answered once",
    body=HookCreate,
    response=HookCreated,
    status=201,
)
async def post_hook(request: web.Request) -> web.Response:
    body = await read_json(request, HookCreate)
    await check_hook(request, body)
    tenant, store = tenant_of(request), request.app[HOOK_SECRETS]
    hook_id, secret = "hook_" + secrets.token_hex(16), new_standard_webhooks_secret()
    await store.write(tenant, hook_id, {CURRENT: secret})
    try:
        async with tenant_transaction(request.app[POOL], tenant) as conn:
            row = await conn.fetchrow(
                f"INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) VALUES ($1, $2, $3, $4) "
                f"RETURNING {COLUMNS}",
                tenant,
                hook_id,
                body.target_url,
                sorted(set(body.event_types)),
            )
    except BaseException:
        await store.delete(tenant, hook_id)
        raise
    return json_response(_hook(row, HookCreated, secret=secret), status=201)


@routes.route(
    "GET",
    "/v1/hooks",
    permission="hooks:read",
    summary="List webhook subscriptions",
    query=HookQuery,
    response=HookList,
)
async def list_hooks(request: web.Request) -> web.Response:
    query = read_query(request, HookQuery)
    items, cursor = await fetch_page(
        request,
        query,
        "hooks",
        f"SELECT {COLUMNS} FROM hook_subscriptions "
        "WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::text)) "
        "ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    return json_response(HookList(items=[_hook(r) for r in items], next=cursor))


@routes.route(
    "GET",
    "/v1/hooks/{hook_id}",
    permission="hooks:read",
    summary="One webhook subscription (never its secret)",
    response=Hook,
    errors=(404,),
)
async def get_hook(request: web.Request) -> web.Response:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM hook_subscriptions WHERE id = $1", request.match_info["hook_id"]
        )
    if row is None:
        raise ProblemError("not-found", "no such hook")
    return json_response(_hook(row))


@routes.route(
    "PATCH",
    "/v1/hooks/{hook_id}",
    permission="hooks:write",
    summary="Enable or disable a subscription (enabling clears its failure count and back-off)",
    body=HookUpdate,
    response=Hook,
    errors=(404,),
)
async def patch_hook(request: web.Request) -> web.Response:
    body = await read_json(request, HookUpdate)
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            "UPDATE hook_subscriptions SET enabled = $2, updated_at = now(), "
            "disabled_reason = CASE WHEN $2 THEN NULL ELSE 'disabled by a user' END, "
            "consecutive_failures = CASE WHEN $2 THEN 0 ELSE consecutive_failures END, "
            "failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END, "
            f"paused_until = CASE WHEN $2 THEN NULL ELSE paused_until END WHERE id = $1 RETURNING {COLUMNS}",
            request.match_info["hook_id"],
            body.enabled,
        )
    if row is None:
        raise ProblemError("not-found", "no such hook")
    return json_response(_hook(row))


@routes.route(
    "DELETE",
    "/v1/hooks/{hook_id}",
    permission="hooks:write",
    summary="Unsubscribe: the subscription, its attempt log and its secret go",
    status=204,
    errors=(404,),
)
async def delete_hook(request: web.Request) -> web.Response:
    tenant, hook_id = tenant_of(request), request.match_info["hook_id"]
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        deleted = await conn.fetchval("DELETE FROM hook_subscriptions WHERE id = $1 RETURNING id", hook_id)
    if deleted is None:
        raise ProblemError("not-found", "no such hook")
    await request.app[HOOK_SECRETS].delete(tenant, hook_id)
    return web.Response(status=204)


@routes.route(
    "POST",
    "/v1/hooks/{hook_id}/rotate-secret",
    permission="hooks:write",
    summary="A new signing secret, answered once; the previous one also signs for the overlap period",
    response=HookSecret,
    errors=(404,),
)
async def rotate_hook_secret(request: web.Request) -> web.Response:
    tenant, hook_id, app = tenant_of(request), request.match_info["hook_id"], request.app
    secret = new_standard_webhooks_secret()
    async with tenant_transaction(app[POOL], tenant) as conn:
        found = await conn.fetchval(
            "UPDATE hook_subscriptions SET secret_rotated_at = now(), updated_at = now() WHERE id = $1 RETURNING id",
            hook_id,
        )
        if found is None:
            raise ProblemError("not-found", "no such hook")
        store = app[HOOK_SECRETS]  # inside the transaction: a failed Vault write leaves the row as it was
        current = await store.read(tenant, hook_id, fresh=True)
        await store.write(
            tenant, hook_id, rotate(current, {CURRENT: secret}, time.time(), app[CONFIG].outbound_secret_overlap_s)
        )
    return json_response(HookSecret(id=hook_id, secret=secret))

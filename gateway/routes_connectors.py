"""Connector instances: create (secrets to Vault, never stored or shown here), read, update/rotate, delete."""

from __future__ import annotations

import json
import secrets
import time
from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta

from connectors.credentials import rotate
from connectors.registry import UnknownProvider, all_providers, get_facts
from db.pool import tenant_transaction
from events.commands import ConnectConnector, DisconnectConnector
from gateway.commands import new_command_fields, record_command, send_command
from gateway.connector_fields import check_fields
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routes_syncs import Health
from gateway.routes_syncs import health as connector_health
from gateway.routing import Cursor, Routes, ShortText, Timestamp, json_response, read_json, read_query
from gateway.state import CONFIG, INVALIDATOR, POOL, PUBLISHER, SECRETS, principal, tenant_of
from gateway.tenancy import check_connector_quota

routes = Routes("connectors")

Name = Annotated[str, Meta(min_length=1, max_length=200)]
SecretValue = Annotated[str, Meta(min_length=1, max_length=4096)]
WEBHOOK_SECRET = "webhook_secret"


# documented as the registry's providers; checked against the registry when a connector is created
ProviderName = Annotated[str, Meta(min_length=1, max_length=64, extra_json_schema={"enum": sorted(all_providers())})]


class ConnectorCreate(msgspec.Struct, forbid_unknown_fields=True):
    provider: ProviderName
    name: Name
    config: dict[str, Any] = {}  # non-secret settings (shop URL, currency ...)
    secrets: dict[str, SecretValue] = {}  # webhook_secret and API credentials: stored in Vault only


class ConnectorUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    config: dict[str, Any] | None = None
    secrets: dict[str, SecretValue] | None = None  # a new webhook_secret rotates: the old one stays valid a while


class Connector(msgspec.Struct):
    id: str
    provider: str
    name: str
    config: dict[str, Any]
    status: str  # active, needs_reauth, or disconnected (kept with the records it imported)
    webhook_url: str
    created_at: Timestamp
    updated_at: Timestamp
    secret_rotated_at: Timestamp | None = None


class ConnectorDetail(Connector):
    health: Health | None = None


class ConnectorCreated(Connector):
    command_id: str | None = None  # the connector.connect.v1 command (set-up workflow)


class ConnectorList(msgspec.Struct):
    items: list[Connector]
    next: str | None


class ConnectorQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    provider: ShortText | None = None


COLUMNS = "id, provider, name, config, status, created_at, updated_at, secret_rotated_at"


def webhook_url(request: web.Request, connector_id: str) -> str:
    base = request.app[CONFIG].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/v1/webhooks/{connector_id}"


def _connector(request: web.Request, row, kind: type[Connector] = Connector, **extra: Any) -> Connector:
    values = {**row, "config": json.loads(row["config"]), **extra}
    return kind(webhook_url=webhook_url(request, row["id"]), **values)


@routes.route(
    "POST",
    "/v1/connectors",
    permission="connectors:write",
    summary="Create a connector instance; its webhook URL is answered",
    body=ConnectorCreate,
    response=ConnectorCreated,
    status=201,
)
async def post_connector(request: web.Request) -> web.Response:
    body = await read_json(request, ConnectorCreate)
    return json_response(await create_connector(request, body), status=201)


async def create_connector(request: web.Request, body: ConnectorCreate) -> ConnectorCreated:
    """Create a connector for the caller's tenant (POST /v1/connectors and the portal's connect form)."""
    try:
        facts = get_facts(body.provider)
    except UnknownProvider:
        raise ProblemError(
            "validation", f"unknown provider {body.provider!r}; known: {', '.join(sorted(all_providers()))}"
        ) from None
    await check_fields(request, facts, body.config, dict(body.secrets))
    # a provider whose set-up registers its webhooks, created without a webhook secret: the set-up registers them
    # and stores theirs (connectors/webhook_setup.py); with one, the user added them by hand
    by_setup = WEBHOOK_SECRET not in body.secrets and facts.webhooks.registration == "by_setup"
    tenant, app = tenant_of(request), request.app
    connector_id = "con_" + secrets.token_hex(16)  # 128 random bits: the webhook URL is unguessable
    store = app[SECRETS]
    if body.secrets:
        await store.write(tenant, connector_id, dict(body.secrets))
    command = ConnectConnector(
        connector_id=connector_id,
        provider=body.provider,
        config=body.config,
        secrets_path=store.path(tenant, connector_id) if body.secrets else None,
        **new_command_fields(tenant, principal(request).subject),
    )
    try:
        async with tenant_transaction(app[POOL], tenant) as conn:
            await check_connector_quota(conn, tenant, app[CONFIG].tenant_max_connectors)
            row = await conn.fetchrow(
                "INSERT INTO connectors (tenant_id, id, provider, name, config, webhooks_by_setup) "
                f"VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING {COLUMNS}",
                tenant,
                connector_id,
                body.provider,
                body.name,
                json.dumps(body.config),
                by_setup,
            )
            await record_command(conn, command)
    except BaseException:
        if body.secrets:
            await store.delete(tenant, connector_id)
        raise
    await send_command(app[POOL], app[PUBLISHER], command)
    return _connector(request, row, ConnectorCreated, command_id=command.id)


@routes.route(
    "GET",
    "/v1/connectors",
    permission="connectors:read",
    summary="List connector instances",
    query=ConnectorQuery,
    response=ConnectorList,
)
async def list_connectors(request: web.Request) -> web.Response:
    return json_response(await connector_page(request, read_query(request, ConnectorQuery)))


async def connector_page(request: web.Request, query: ConnectorQuery) -> ConnectorList:
    items, cursor = await fetch_page(
        request,
        query,
        "connectors",
        f"SELECT {COLUMNS} FROM connectors WHERE ($1::text IS NULL OR provider = $1) "
        "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::text)) "
        "ORDER BY created_at DESC, id DESC LIMIT $4",
        query.provider,
    )
    return ConnectorList(items=[_connector(request, r) for r in items], next=cursor)


@routes.route(
    "GET",
    "/v1/connectors/{connector_id}",
    permission="connectors:read",
    summary="One connector instance (never its secrets) and its health: last successful sync, last error, "
    "needs_reauth, the schedule and its next run",
    response=ConnectorDetail,
    errors=(404,),
)
async def get_connector_route(request: web.Request) -> web.Response:
    return json_response(await connector_detail(request, request.match_info["connector_id"]))


async def connector_detail(request: web.Request, connector_id: str) -> ConnectorDetail:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM connectors WHERE id = $1", connector_id)
        if row is None:
            raise ProblemError("not-found", "no such connector")
        health = await connector_health(conn, row)
    return _connector(request, row, ConnectorDetail, health=health)


@routes.route(
    "PATCH",
    "/v1/connectors/{connector_id}",
    permission="connectors:write",
    summary="Rename, reconfigure or rotate secrets (the previous webhook secret stays valid for a grace period); a "
    "disconnected connector answers 409",
    body=ConnectorUpdate,
    response=Connector,
    errors=(404, 409),
)
async def patch_connector(request: web.Request) -> web.Response:
    body = await read_json(request, ConnectorUpdate)
    tenant, connector_id, app = tenant_of(request), request.match_info["connector_id"], request.app
    async with tenant_transaction(app[POOL], tenant) as conn:
        found = await conn.fetchrow("SELECT provider, status FROM connectors WHERE id = $1", connector_id)
        if found is None:
            raise ProblemError("not-found", "no such connector")
        if found["status"] == "disconnected":
            raise ProblemError("conflict", "the connector is disconnected: create a new one to connect again")
        provider = found["provider"]
        await check_fields(request, get_facts(provider), body.config, body.secrets, update=True)
        row = await conn.fetchrow(
            "UPDATE connectors SET name = coalesce($2, name), config = coalesce($3::jsonb, config), "
            "secret_rotated_at = CASE WHEN $4 THEN now() ELSE secret_rotated_at END, updated_at = now() "
            f"WHERE id = $1 RETURNING {COLUMNS}",
            connector_id,
            body.name,
            json.dumps(body.config) if body.config is not None else None,
            bool(body.secrets),
        )
        if row is None:
            raise ProblemError("not-found", "no such connector")
        if body.secrets:  # inside the transaction: a failed Vault write leaves the row as it was
            store = app[SECRETS]
            current = await store.read(tenant, connector_id, fresh=True)
            merged = rotate(current, dict(body.secrets), time.time(), app[CONFIG].webhook_secret_grace_s)
            await store.write(tenant, connector_id, merged)
    await app[INVALIDATOR].connector_changed(tenant, connector_id)  # every gateway process's caches
    return json_response(_connector(request, row))


class DisconnectQuery(msgspec.Struct):
    erase: bool = False  # also erase what came from it: records, chunks, archived events, raw deliveries


@routes.route(
    "DELETE",
    "/v1/connectors/{connector_id}",
    permission="connectors:write",
    summary="Disconnect a connector: its webhook URL stops working, the webhooks its set-up registered are deleted "
    "and its OAuth2 grant revoked at the provider (Zoho CRM, Shopify), every version of its secrets is destroyed, "
    "its syncs stop and its schedule goes; the records "
    "it imported stay (`source_status` disconnected) unless "
    "`erase=true`, which erases everything that came from it (recorded as an erasure)",
    query=DisconnectQuery,
    status=204,
    errors=(404,),
)
async def delete_connector(request: web.Request) -> web.Response:
    query = read_query(request, DisconnectQuery)
    await disconnect_connector(request, request.match_info["connector_id"], query.erase)
    return web.Response(status=204)


async def disconnect_connector(request: web.Request, connector_id: str, erase: bool) -> None:
    """Disconnect (and with `erase`, erase what came from it): DELETE /v1/connectors/{id} and the portal's form."""
    tenant, app = tenant_of(request), request.app
    command = DisconnectConnector(
        connector_id=connector_id, erase=erase, **new_command_fields(tenant, principal(request).subject)
    )
    async with tenant_transaction(app[POOL], tenant) as conn:
        found = await conn.fetchrow("SELECT status, provider FROM connectors WHERE id = $1 FOR UPDATE", connector_id)
        if found is None:
            raise ProblemError("not-found", "no such connector")
        if found["status"] == "disconnected" and not erase:
            return  # disconnected before: nothing more to do
        await conn.execute(
            "UPDATE connectors SET status = 'disconnected', updated_at = now() WHERE id = $1", connector_id
        )
        registered = await conn.fetchval(
            "SELECT count(*) FROM connector_webhooks WHERE connector_id = $1", connector_id
        )
        await record_command(conn, command)
    await app[INVALIDATOR].connector_changed(tenant, connector_id)  # every gateway process's caches
    # the disconnect command unregisters the webhooks and revokes the grant at the provider with the secrets, then
    # destroys them (every version); when it needs none, they go now
    if not registered and get_facts(found["provider"]).auth.revoke is None:
        await app[SECRETS].delete(tenant, connector_id)  # every version (KV v2 metadata and all versions)
    await send_command(app[POOL], app[PUBLISHER], command)

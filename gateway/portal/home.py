"""The portal's home: the tenant, its connectors' health, how many records of each kind it holds and how many
events it sent this month (usage_counts, kept exact by the metrics group for billing)."""

from __future__ import annotations

from aiohttp import web

from db.pool import tenant_transaction
from gateway.pagination import MAX_LIMIT
from gateway.portal.web import page, render
from gateway.routes_connectors import ConnectorQuery, connector_detail, connector_page
from gateway.routes_tenants import caller_tenant
from gateway.state import POOL, tenant_of

routes = web.RouteTableDef()


async def record_counts(request: web.Request) -> list[tuple[str, int]]:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch("SELECT kind, count(*) AS n FROM records WHERE NOT deleted GROUP BY kind ORDER BY kind")
    return [(r["kind"], r["n"]) for r in rows]


async def usage_this_month(request: web.Request) -> list[tuple[str, int]]:
    """Events per provider since the first of this month (UTC)."""
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch(
            "SELECT provider, sum(events)::bigint AS n FROM usage_counts "
            "WHERE day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date GROUP BY provider ORDER BY provider"
        )
    return [(r["provider"] or "platform", r["n"]) for r in rows]


@routes.get("/portal/")
@page("records:read")
async def home(request: web.Request) -> web.Response:
    listed = await connector_page(request, ConnectorQuery(limit=MAX_LIMIT))
    connectors = [await connector_detail(request, c.id) for c in listed.items if c.status != "disconnected"]
    return render(
        request,
        "home.html",
        tenant=await caller_tenant(request),
        connectors=connectors,
        counts=await record_counts(request),
        usage=await usage_this_month(request),
    )

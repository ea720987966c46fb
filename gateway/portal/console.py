"""The operator console: tenants, and the streams with their groups (length, lag, pending, dead letters) as
`bizosaas streams` and GET /v1/admin/streams show them (the same function)."""

from __future__ import annotations

from aiohttp import web

from gateway.portal.web import page, render
from gateway.roles import OPERATOR
from gateway.routes_admin import streams_overview
from gateway.state import POOL

routes = web.RouteTableDef()
TENANTS_SHOWN = 200


@routes.get("/console/")
@page(OPERATOR, sign_in="/console/sign-in")
async def console(request: web.Request) -> web.Response:
    # tenant_directory (0024) is the only cross-tenant read the service role may make: ids, names, times
    tenants = await request.app[POOL].fetch("SELECT id, name, created_at FROM tenant_directory($1)", TENANTS_SHOWN)
    return render(request, "console.html", tenants=tenants, overview=await streams_overview(request.app))

"""The tenant's audit log for its admins (db/audit.py writes it where approvals, keys and roles change)."""

from __future__ import annotations

from aiohttp import web

from db.audit import AUDIT_PAGE, audit_entries
from db.pool import tenant_transaction
from gateway.portal.web import page, render
from gateway.state import POOL, tenant_of

routes = web.RouteTableDef()


@routes.get("/portal/audit")
@page("audit:read")
async def audit(request: web.Request) -> web.Response:
    before = request.query.get("before", "")
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        entries = await audit_entries(conn, int(before) if before.isdigit() and len(before) < 19 else None)
    older = entries[-1].id if len(entries) == AUDIT_PAGE else None
    return render(request, "audit.html", entries=entries, older=older)

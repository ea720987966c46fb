"""API keys (admins only, as the JSON routes): the list, a new key shown once, revocation (both audited), and the
tenant's usage this month. A revoked key's portal sessions end at their next request (gateway/portal/web.py looks
the key up each time)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.pagination import MAX_LIMIT
from gateway.portal.home import usage_this_month
from gateway.portal.web import FORM, form_value, page, redirect, render
from gateway.problems import ProblemError
from gateway.roles import ROLES
from gateway.routes_tenants import ApiKeyCreate, ApiKeyCreated, ListQuery, create_key, key_page, revoke_key

routes = web.RouteTableDef()


async def _keys_page(request: web.Request, created: ApiKeyCreated | None = None, revoked: bool = False):
    keys = await key_page(request, ListQuery(limit=MAX_LIMIT, cursor=request.query.get("cursor") or None))
    usage = await usage_this_month(request)
    return render(request, "keys.html", keys=keys, created=created, roles=ROLES, revoked=revoked, usage=usage)


@routes.get("/portal/keys")
@page("keys:manage")
async def keys(request: web.Request) -> web.Response:
    return await _keys_page(request, revoked=request.query.get("revoked") == "1")


@routes.post("/portal/keys")
@page("keys:manage")
async def create(request: web.Request) -> web.Response:
    fields = {"name": form_value(request, "name"), "role": str(request[FORM].get("role", "user"))}
    try:
        body = msgspec.convert(fields, ApiKeyCreate)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
    # answered on this response only (not a redirect): the key is never stored and never shown again
    return await _keys_page(request, created=await create_key(request, body))


@routes.post("/portal/keys/{key_id}/revoke")
@page("keys:manage")
async def revoke(request: web.Request) -> web.Response:
    await revoke_key(request, request.match_info["key_id"])
    return redirect("/portal/keys?revoked=1")

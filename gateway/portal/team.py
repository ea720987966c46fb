"""The tenant's people (the Team page) and the invite links that bring new ones in.

Everyone in the tenant sees the members and this month's usage; an admin (`tenant:manage`) invites (a one-time link,
shown once, whose token is stored hashed and expires after gateway/memberships.py's INVITE_S), cancels invites,
changes roles and removes members, each audited. The invited person opens the link, confirms (a form with the
sign-in forms' double-submit token), and signs in by OIDC: the callback (gateway/portal/oidc.py) uses the invite.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from gateway.memberships import (
    INVITE_S,
    actor_of,
    cancel_invite,
    change_role,
    create_invite,
    find_invite,
    members,
    open_invites,
)
from gateway.portal.home import usage_this_month
from gateway.portal.oidc import INVITE_COOKIE
from gateway.portal.settings import oidc_enabled
from gateway.portal.signin import sign_in_form
from gateway.portal.web import (
    FORM,
    SECURITY_HEADERS,
    SIGNIN_COOKIE,
    can,
    form_value,
    page,
    redirect,
    render,
    set_cookie,
)
from gateway.problems import ProblemError
from gateway.roles import ROLES
from gateway.state import CONFIG, POOL, PRINCIPAL, tenant_of

routes = web.RouteTableDef()
NOTICES = {"changed": "The role is changed; it applies at the member's next page.", "removed": "Removed."}
GONE = "this invite was used already or has expired: ask for a new one"
STALE = "the form's CSRF token is missing or stale: open the link again"
NOTICES["cancelled"] = "The invite is cancelled: its link no longer works."


def _invite_url(request: web.Request, token: str) -> str:
    base = request.app[CONFIG].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/portal/invite/{token}"


async def _team_page(request: web.Request, invite_link: str = "") -> web.Response:
    pool, tenant = request.app[POOL], tenant_of(request)
    return render(
        request,
        "team.html",
        members=await members(pool, tenant),
        invites=await open_invites(pool, tenant) if can(request, "tenant:manage") else [],
        usage=await usage_this_month(request),
        roles=ROLES,
        invite_link=invite_link,
        invite_days=INVITE_S // 86400,
        notice=NOTICES.get(request.query.get("done", "")),
    )


@routes.get("/portal/team")
@page("team:read")
async def team(request: web.Request) -> web.Response:
    return await _team_page(request)


def _role(request: web.Request) -> str:
    role = str(request[FORM].get("role", ""))
    if role not in ROLES:
        raise ProblemError("validation", f"role: one of {', '.join(ROLES)}", errors=["role"])
    return role


@routes.post("/portal/team/invites")
@page("tenant:manage")
async def invite(request: web.Request) -> web.Response:
    note = str(request[FORM].get("note", "")).strip()[:200]
    actor = actor_of(request[PRINCIPAL])
    token = await create_invite(request.app[POOL], tenant_of(request), actor, _role(request), note)
    # on this response only (not a redirect): the link is never stored and never shown again
    return await _team_page(request, invite_link=_invite_url(request, token))


@routes.post("/portal/team/invites/{invite_id}/cancel")
@page("tenant:manage")
async def cancel(request: web.Request) -> web.Response:
    actor = actor_of(request[PRINCIPAL])
    await cancel_invite(request.app[POOL], tenant_of(request), actor, request.match_info["invite_id"])
    return redirect("/portal/team?done=cancelled")


@routes.post("/portal/team/members")
@page("tenant:manage")
async def member(request: web.Request) -> web.Response:
    subject = form_value(request, "subject", 500)
    remove = request[FORM].get("remove") == "true"
    role = None if remove else _role(request)
    await change_role(request.app[POOL], tenant_of(request), actor_of(request[PRINCIPAL]), subject, role)
    return redirect(f"/portal/team?done={'removed' if remove else 'changed'}")


@routes.get("/portal/invite/{token}")
async def invite_landing(request: web.Request) -> web.Response:
    found = await find_invite(request.app[POOL], request.match_info["token"])
    if found is None:
        return sign_in_form(request, "invite.html", 404, GONE)
    if not oidc_enabled(request.app[CONFIG]):
        return sign_in_form(request, "invite.html", 501, "single sign-on is not configured on this platform")
    response = sign_in_form(request, "invite.html", invite=found, token=request.match_info["token"])
    # the form's answer redirects on to the issuer: a browser applies form-action to each redirect, so it names it
    issuer = urlsplit(request.app[CONFIG].oidc_authorization_url)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = policy.replace(
        "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}"
    )
    return response


@routes.post("/portal/invite")
async def accept(request: web.Request) -> web.Response:
    """Keep the invite for this browser's sign-in and go to the issuer; the OIDC callback uses it."""
    form = await request.post()
    cookie, field = request.cookies.get(SIGNIN_COOKIE, ""), str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
        return sign_in_form(request, "invite.html", 403, STALE)
    token = str(form.get("token", ""))
    if await find_invite(request.app[POOL], token) is None:
        return sign_in_form(request, "invite.html", 404, GONE)
    response = redirect("/portal/oidc/start")
    set_cookie(response, request, INVITE_COOKIE, token, 600)
    return response

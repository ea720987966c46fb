"""Signing in and out. The portal takes an API key only when BIZOSAAS_PORTAL_KEY_SIGNIN is on (development:
`bizosaas dev` turns it on); the console takes the operator token (BIZOSAAS_ADMIN_TOKEN). Both go through the
gateway's Authenticator, so failed attempts count against the same per-address limit as bearer tokens.

The sign-in forms are protected by a double-submit token (a cookie and a hidden field that must match); every
sign-in makes a new session (the id rotates) and ends the one the browser had.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from gateway.auth import KEY_PREFIX
from gateway.portal.sessions import digest
from gateway.portal.settings import oidc_enabled
from gateway.portal.web import (
    COOKIE,
    SESSION,
    SESSIONS,
    SIGNIN_COOKIE,
    page,
    redirect,
    render,
    set_cookie,
)
from gateway.problems import ProblemError
from gateway.roles import PUBLIC, Principal
from gateway.state import AUTH, CONFIG

routes = web.RouteTableDef()
SIGNIN_TOKEN_S = 3600


def sign_in_form(
    request: web.Request, template: str, status: int = 200, error: str = "", **context: object
) -> web.Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    config = request.app[CONFIG]
    response = render(
        request,
        template,
        status=status,
        signin_token=token,
        error=error,
        config=config,
        oidc=oidc_enabled(config),
        **context,
    )
    set_cookie(response, request, SIGNIN_COOKIE, token, SIGNIN_TOKEN_S)
    return response


async def signed_in(
    request: web.Request, via: str, credential: str, principal: Principal, membership: bool = False, to: str = ""
) -> web.Response:
    """A new session (a new id) for the caller, replacing the browser's previous one; off to their home (or `to`)."""
    store = request.app[SESSIONS]
    await store.end(request.cookies.get(COOKIE, ""))  # the browser's previous session, if any, ends here
    session = await store.start(via, digest(credential), principal, membership)
    response = redirect(to or ("/portal/" if principal.tenant_id else "/console/"))
    set_cookie(response, request, COOKIE, session.id, request.app[CONFIG].portal_session_s)
    response.del_cookie(SIGNIN_COOKIE, path="/")
    return response


async def _credential(request: web.Request) -> str:
    form = await request.post()
    cookie, field = request.cookies.get(SIGNIN_COOKIE, ""), str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
        raise ProblemError("forbidden", "the form's CSRF token is missing or stale: reload the page")
    return str(form.get("credential", "")).strip()


@routes.get("/portal/sign-in")
async def portal_sign_in_form(request: web.Request) -> web.Response:
    return sign_in_form(request, "sign_in.html")


@routes.post("/portal/sign-in")
async def portal_sign_in(request: web.Request) -> web.StreamResponse:
    if not request.app[CONFIG].portal_key_signin:
        return sign_in_form(request, "sign_in.html", 403, "signing in with an API key is turned off here")
    try:
        key = await _credential(request)
        principal = await request.app[AUTH].authenticate(f"Bearer {key}", request.remote or "")
    except ProblemError as exc:
        return sign_in_form(request, "sign_in.html", exc.status, exc.detail)
    if not key.startswith(KEY_PREFIX) or principal.via != "api_key":
        return sign_in_form(request, "sign_in.html", 401, "give an API key of your tenant (bz_…)")
    return await signed_in(request, "api_key", key, principal)


@routes.get("/console/sign-in")
async def console_sign_in_form(request: web.Request) -> web.Response:
    return sign_in_form(request, "console_sign_in.html")


@routes.post("/console/sign-in")
async def console_sign_in(request: web.Request) -> web.StreamResponse:
    try:
        token = await _credential(request)
        principal = await request.app[AUTH].authenticate(f"Bearer {token}", request.remote or "")
    except ProblemError as exc:
        return sign_in_form(request, "console_sign_in.html", exc.status, exc.detail)
    if principal.via != "admin_token":
        return sign_in_form(request, "console_sign_in.html", 401, "give the operator token (BIZOSAAS_ADMIN_TOKEN)")
    return await signed_in(request, "admin_token", token, principal)


@routes.post("/portal/sign-out")
@page(PUBLIC)
async def sign_out(request: web.Request) -> web.StreamResponse:
    await request.app[SESSIONS].end(request[SESSION].id)
    response = redirect("/portal/sign-in")
    response.del_cookie(COOKIE, path="/")
    return response

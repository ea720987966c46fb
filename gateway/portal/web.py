"""What every page shares: the signed-in caller (from the session cookie, checked again on every request), the
role check of gateway/roles.py, the CSRF check of every POST, rendering with the common context, and HTML errors.

JSON routes never see any of this: the `authorize` middleware reads the Authorization header only.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp_jinja2
from aiohttp import web

from gateway.memberships import member_role
from gateway.middleware import charge
from gateway.portal.sessions import Session, SessionStore, digest
from gateway.problems import PROBLEM_TYPES, ProblemError
from gateway.roles import OPERATOR, PUBLIC, Principal, allows
from gateway.state import AUTH, CONFIG, POOL, PRINCIPAL

COOKIE = "bz_session"
SIGNIN_COOKIE = "bz_signin"  # the sign-in forms' CSRF token (double submit: no session exists yet)
SESSIONS = web.AppKey("portal_sessions", SessionStore)
SESSION = web.RequestKey("portal_session", Session)
FORM = web.RequestKey("portal_form", dict)
# a multipart POST (a file upload): its parts after the CSRF token, read by the handler as they arrive (never whole)
UPLOAD = web.RequestKey("portal_upload", aiohttp.MultipartReader)
# our one script file only (static/portal.js), no third-party origin, no framing; inline styles only
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def secure_cookies(request: web.Request) -> bool:
    return request.app[CONFIG].public_url.startswith("https://")


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="Lax", secure=secure_cookies(request)
    )


async def current(request: web.Request) -> tuple[Session, Principal] | None:
    """The session and its caller now, or None. The credential is looked up afresh: a revoked key, a changed role or
    a changed operator token take effect on the next request, and a dead session is deleted."""
    store = request.app[SESSIONS]
    session = await store.load(request.cookies.get(COOKIE, ""))
    if session is None:
        return None
    principal: Principal | None = None
    if session.via == "api_key":
        principal = await request.app[AUTH].key_by_hash(session.credential)
        if principal is not None and principal.tenant_id != session.tenant_id:
            principal = None
    elif session.via == "admin_token":
        token = request.app[CONFIG].admin_token
        if token and hmac.compare_digest(digest(token), session.credential):
            principal = Principal("admin-token", None, None, operator=True, via="admin_token")
    elif session.via == "oidc" and session.membership and session.tenant_id:
        # a member's role as it is now: a changed role applies at once, a removed member's session ends
        role = await member_role(request.app[POOL], session.tenant_id, session.subject)
        principal = Principal(session.subject, session.tenant_id, role, via="jwt") if role else None
    elif session.via == "oidc":
        principal = Principal(session.subject, session.tenant_id, session.role, operator=session.operator, via="jwt")
    if principal is None:
        await store.end(session.id)
        return None
    return session, principal


def page(permission: str, sign_in: str = "/portal/sign-in") -> Callable[[PageHandler], PageHandler]:
    """A page that needs a session whose caller holds `permission`; a POST also needs the session's CSRF token."""

    def wrap(handler: PageHandler) -> PageHandler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            found = await current(request)
            if found is None:
                return redirect(sign_in)
            session, principal = found
            request[SESSION], request[PRINCIPAL] = session, principal
            if principal.tenant_id is None and not principal.operator and permission != PUBLIC:
                return redirect("/portal/onboarding")  # signed in, in no tenant yet: onboarding's first step
            try:
                if not allows(principal, permission):
                    raise ProblemError("forbidden", "your role does not allow this")
                await charge(request, principal, permission)  # the same limits as the caller's JSON requests
                if request.method == "POST":
                    if request.content_type == "multipart/form-data":
                        request[UPLOAD] = reader = await request.multipart()
                        form = {"csrf": await _first_part(reader, "csrf")}  # the form's first field, by its order
                    else:
                        form = dict(await request.post())
                    if not hmac.compare_digest(str(form.get("csrf", "")).encode(), session.csrf.encode()):
                        raise ProblemError("forbidden", "the form's CSRF token is missing or stale: reload the page")
                    request[FORM] = form
                response = await handler(request)
            except ProblemError as exc:
                response = error_page(request, exc)
            if not response.prepared:  # a stream (live.py) sent its headers already
                response.headers.update(SECURITY_HEADERS)
            return response

        run.permission = permission  # type: ignore[attr-defined]  # what the page needs, for readers and tests
        return run

    return wrap


async def _first_part(reader: aiohttp.MultipartReader, name: str, limit: int = 200) -> str:
    part = await reader.next()
    if not isinstance(part, aiohttp.BodyPartReader) or part.name != name:
        return ""
    value = b""
    while not part.at_eof() and len(value) <= limit:
        value += await part.read_chunk(limit)
    return value[:limit].decode(errors="replace")


def redirect(location: str) -> web.Response:
    """303 to a page (returned, never raised: the gateway's `observe` middleware turns HTTP exceptions into
    problems)."""
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def can(request: web.Request, permission: str) -> bool:
    principal = request.get(PRINCIPAL)
    return principal is not None and allows(principal, permission)


def page_context(request: web.Request) -> dict[str, Any]:
    """What every template may use (a live fragment rendered with render_string needs it too)."""
    principal = request.get(PRINCIPAL)
    session = request.get(SESSION)
    return {
        "principal": principal,
        "csrf": session.csrf if session else "",
        "can": lambda permission: can(request, permission),
        "console": principal is not None and allows(principal, OPERATOR),
        "path": request.path,
    }


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    common = page_context(request)
    response = aiohttp_jinja2.render_template(template, request, {**common, **context}, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: web.Request, exc: ProblemError) -> web.Response:
    status, title = PROBLEM_TYPES[exc.slug]
    return render(request, "error.html", status=status, title=title, detail=exc.detail, errors=exc.errors)


def form_value(request: web.Request, name: str, limit: int = 200) -> str:
    """A required text field of the posted form, or 422 naming it."""
    value = str(request[FORM].get(name, "")).strip()
    if not value or len(value) > limit:
        raise ProblemError("validation", f"{name}: give 1 to {limit} characters", errors=[name])
    return value

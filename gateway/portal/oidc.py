"""Portal sign-in by OIDC: the authorization code flow with PKCE (RFC 7636, S256) against the configured issuer
(Authentik in production).

`/portal/oidc/start` keeps a one-time state in Redis (`bz:oidc:<sha256 of the state>`: the PKCE verifier and a
nonce, 10 minutes) and in an HttpOnly cookie of this browser, then sends the browser to the issuer. The callback
accepts the state only from the browser that started it and only once, exchanges the code (with the verifier) at
the token endpoint over the back channel, verifies the ID token against the issuer's JWKS (issuer, audience = the
client id, the nonce), and maps its claims to a tenant, a role or the operator exactly as a bearer JWT's
(gateway/auth.py). When the claims name no tenant, the person's membership does (gateway/memberships.py: the role
is then read again on every request); a browser that brings an invite (`bz_invite`, set by /portal/invite) joins
the invite's tenant; a person with neither signs in with no tenant and goes to onboarding, where they make one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

import aiohttp
import msgspec
from aiohttp import web

from events.streams import OIDC_STATE_KEY
from gateway.jwks import TokenError
from gateway.memberships import accept_invite, memberships_of
from gateway.portal.profiles import DONE, onboarding_step
from gateway.portal.sessions import digest
from gateway.portal.settings import oidc_enabled
from gateway.portal.signin import sign_in_form, signed_in
from gateway.portal.web import redirect, set_cookie
from gateway.problems import ProblemError
from gateway.roles import Principal
from gateway.state import AUTH, CONFIG, HTTP, POOL, REDIS

routes = web.RouteTableDef()
STATE_S = 600
STATE_COOKIE = "bz_oidc"
INVITE_COOKIE = "bz_invite"  # the invite this browser accepts at its next OIDC sign-in (gateway/portal/team.py)
TOKEN_TIMEOUT_S = 15.0


class _Pending(msgspec.Struct, frozen=True):
    verifier: str
    nonce: str


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _redirect_uri(request: web.Request) -> str:
    base = request.app[CONFIG].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/portal/oidc/callback"


@routes.get("/portal/oidc/start")
async def start(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if not oidc_enabled(config):
        return sign_in_form(request, "sign_in.html", 501, "single sign-on is not configured on this platform")
    state, verifier, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(64), secrets.token_urlsafe(16)
    pending = msgspec.json.encode(_Pending(verifier, nonce))
    await request.app[REDIS].set(OIDC_STATE_KEY % digest(state), pending, ex=STATE_S)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.oidc_client_id,
            "redirect_uri": _redirect_uri(request),
            "scope": config.oidc_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    url = config.oidc_authorization_url
    response = redirect(f"{url}{'&' if '?' in url else '?'}{query}")
    set_cookie(response, request, STATE_COOKIE, state, STATE_S)
    return response


@routes.get("/portal/oidc/callback")
async def callback(request: web.Request) -> web.Response:
    if not oidc_enabled(request.app[CONFIG]):
        return sign_in_form(request, "sign_in.html", 501, "single sign-on is not configured on this platform")
    try:
        principal, membership, to = await _person(request, await _complete(request))
    except ProblemError as exc:
        response = sign_in_form(request, "sign_in.html", exc.status, exc.detail)
    else:
        response = await signed_in(request, "oidc", principal.subject, principal, membership, to)
    response.del_cookie(STATE_COOKIE, path="/")
    response.del_cookie(INVITE_COOKIE, path="/")
    return response


async def _person(request: web.Request, claims: dict) -> tuple[Principal, bool, str]:
    """Who signs in: (principal, whether memberships hold their role, where they go first)."""
    pool, subject = request.app[POOL], str(claims["sub"])
    person = str(claims.get("name") or claims.get("email") or "")[:200]
    invite = request.cookies.get(INVITE_COOKIE, "")
    if invite:
        accepted = await accept_invite(pool, invite, subject, person)
        if accepted is None:
            raise ProblemError("not-found", "this invite was used already or has expired: ask for a new one")
        return Principal(subject, accepted[0], accepted[1], via="jwt"), True, "/portal/"
    principal = request.app[AUTH].from_claims(claims)
    if principal is not None:  # the token's claims name the tenant and role (or the operator)
        return principal, False, ""
    found = await memberships_of(pool, subject)
    if not found:
        return Principal(subject, None, None, via="jwt"), False, "/portal/onboarding"
    tenant_id, role = found[0]
    unfinished = role == "admin" and await onboarding_step(pool, tenant_id) != DONE
    return Principal(subject, tenant_id, role, via="jwt"), True, "/portal/onboarding" if unfinished else "/portal/"


async def _complete(request: web.Request) -> dict:
    """The verified ID token's claims."""
    query, app = request.query, request.app
    if "error" in query:
        raise ProblemError("unauthenticated", f"the identity provider answered {query['error'][:100]!r}")
    state, cookie = query.get("state", ""), request.cookies.get(STATE_COOKIE, "")
    if not state or not cookie or not hmac.compare_digest(state.encode(), cookie.encode()):
        raise ProblemError("oauth-state", "this sign-in was not started in this browser: sign in again")
    raw = await app[REDIS].getdel(OIDC_STATE_KEY % digest(state))
    if raw is None:
        raise ProblemError("oauth-state", "this sign-in expired or was used already: sign in again")
    pending = msgspec.json.decode(raw, type=_Pending)
    id_token = await _exchange(request, query.get("code", ""), pending.verifier)
    try:
        claims = await app[AUTH].jwks.verify(id_token, audience=app[CONFIG].oidc_client_id)  # type: ignore[union-attr]
    except TokenError as exc:
        raise ProblemError("unauthenticated", f"the ID token is not valid ({exc})") from None
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), pending.nonce.encode()):
        raise ProblemError("unauthenticated", "the ID token is not the answer to this sign-in (nonce)")
    return claims


async def _exchange(request: web.Request, code: str, verifier: str) -> str:
    """The ID token for the code (the token endpoint, with the PKCE verifier and, if any, the client secret)."""
    config = request.app[CONFIG]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(request),
        "client_id": config.oidc_client_id,
        "code_verifier": verifier,
    }
    if config.oidc_client_secret:
        form["client_secret"] = config.oidc_client_secret
    try:
        async with request.app[HTTP].post(
            config.oidc_token_url, data=form, timeout=aiohttp.ClientTimeout(total=TOKEN_TIMEOUT_S)
        ) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ProblemError(
            "unavailable", f"the identity provider's token endpoint failed ({type(exc).__name__})"
        ) from None
    token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise ProblemError("unauthenticated", "the identity provider did not accept the sign-in code")
    return token

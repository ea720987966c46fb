"""OAuth2 token endpoints and what Vault keeps of their answers: which endpoint an authorization uses (`token_url`,
admitting a host named by the callback, Zoho's `accounts-server`, only when the provider's facts list it), the code
exchange (RFC 6749 4.1.3, with the PKCE verifier), the connector's Vault entry with the tokens (`stored`), and a
disconnect's revocation of the grant where the provider offers one (`revoke`, the facts' `auth.revoke`). Tokens
live in Vault only (connectors/credentials.py), never in Postgres, logs, events or answers. A 429, a 5xx or a network
failure at a token endpoint is a TransientError; a refusal is the provider's error code, for the caller to judge.
All HTTP goes through `public_session`.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from connectors.facts import ProviderFacts
from connectors.public_http import public_session, refused_address
from events.errors import PermanentError, TransientError

HTTP_TIMEOUT_S = 10.0
DEFAULT_EXPIRES_IN_S = 3600  # when the provider does not say (RFC 6749 makes expires_in optional)

# what Vault keeps beside the connector's credential fields (client_id, client_secret)
ACCESS_TOKEN = "oauth_access_token"
REFRESH_TOKEN = "oauth_refresh_token"
EXPIRES_AT = "oauth_expires_at"  # unix seconds
TOKEN_URL = "oauth_token_url"  # the token endpoint that issued them (Zoho: the user's data centre)
NEEDS_REAUTH = "oauth_needs_reauth"  # the provider's error code when it refused the refresh token
SCOPE = "oauth_scope"
TOKEN_AUTH = "oauth_token_auth"  # "basic" when the token endpoint takes the client by HTTP Basic (facts' token_auth)


class OAuthError(PermanentError):
    """The provider refused (a code, a client) or the flow cannot go on; the message names the fix."""


class NeedsReauth(OAuthError):
    """The connector's grant is gone (revoked, expired, or never made): the user must connect it again."""

    def __init__(self, connector_id: str, reason: str) -> None:
        super().__init__(
            f"connector {connector_id} needs to be reconnected ({reason}): "
            f"GET /v1/connectors/{connector_id}/oauth/authorize"
        )
        self.reason = reason


class TokenHostRefused(OAuthError):
    """A callback named a token host the provider does not document: nothing is sent there."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _is_loopback(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost", "::1")


def token_url(facts: ProviderFacts, named: str | None, allow_private: bool = False) -> str:
    """The token endpoint for this authorization: the facts' token_url, its origin replaced by the host a callback
    named (`token_host_param`) when that host is one the provider documents (with allow_private, a loopback host
    too: a local server in tests). Raises TokenHostRefused otherwise, before anything is sent."""
    if not named:
        return facts.auth.token_url
    origin = named.strip().rstrip("/").lower()
    parts = urlsplit(origin)
    well_formed = parts.scheme in ("http", "https") and parts.hostname and not (parts.path or parts.query)
    documented = {h.rstrip("/").lower() for h in facts.auth.token_hosts}
    if (
        not facts.auth.token_host_param
        or not well_formed
        or not (origin in documented or (allow_private and _is_loopback(origin)))
    ):
        raise TokenHostRefused(
            f"{facts.provider}: {named!r} is not one of its documented token hosts ({', '.join(sorted(documented))})"
        )
    path = urlsplit(facts.auth.token_url).path
    return origin + path


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str | None = None

    def __repr__(self) -> str:  # never a token in a log line or a traceback
        return f"Tokens(expires_at={self.expires_at}, refresh_token={'yes' if self.refresh_token else 'no'})"


async def _send(method: str, url: str, allow_private: bool, what: str, **request: Any) -> tuple[int, bytes]:
    """(status, body) of one request to a provider's OAuth2 endpoint; 429, 5xx and network failures raise a
    TransientError naming only the endpoint's origin (its query may carry a token)."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    headers = {"Accept": "application/json", **request.pop("headers", {})}
    try:
        async with (
            public_session(allow_private, timeout=timeout) as session,
            session.request(method, url, headers=headers, **request) as resp,
        ):
            status = resp.status
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        if refused := refused_address(exc):  # not a public address: retrying cannot help
            raise refused from None
        raise TransientError(f"{what} {_origin(url)}: {type(exc).__name__}") from None
    if status == 429 or status >= 500:
        raise TransientError(f"{what} {_origin(url)} answered {status}")
    return status, raw


def client_auth(form: dict[str, str], token_auth: str) -> dict[str, Any]:
    """The request's client authentication (RFC 6749 2.3.1): the form as it is (client_secret_post), or without the
    client's id and secret, which go in `Authorization: Basic` (client_secret_basic), never both."""
    if token_auth != "basic":
        return {"data": form}
    pair = f"{form.get('client_id', '')}:{form.get('client_secret', '')}".encode()
    rest = {k: v for k, v in form.items() if k not in ("client_id", "client_secret")}
    return {"data": rest, "headers": {"Authorization": "Basic " + base64.b64encode(pair).decode()}}


async def token_request(
    url: str, form: dict[str, str], allow_private: bool, now: float, token_auth: str = "post"
) -> Tokens | str:
    """POST a token request (RFC 6749 4.1.3 / 6, the client as `token_auth` says). Answers Tokens, or the provider's
    error code for a refusal (the caller decides what it means); raises TransientError for 429, 5xx and network
    failures."""
    status, raw = await _send("POST", url, allow_private, "token endpoint", **client_auth(form, token_auth))
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OAuthError(f"token endpoint {_origin(url)} answered {status} without a JSON object")
    if status >= 400 or "error" in body or not body.get("access_token"):  # Zoho refuses with 200 and an `error`
        return str(body.get("error") or f"http_{status}")
    try:
        expires_in = float(body.get("expires_in") or DEFAULT_EXPIRES_IN_S)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN_S
    return Tokens(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        expires_at=now + expires_in,
        scope=str(body["scope"]) if body.get("scope") else None,
    )


async def exchange_code(
    url: str,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    verifier: str,
    allow_private: bool = False,
    now: float | None = None,
    token_auth: str = "post",
) -> Tokens:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
        "code_verifier": verifier,
    }
    answer = await token_request(url, form, allow_private, time.time() if now is None else now, token_auth)
    if isinstance(answer, str):
        raise OAuthError(f"the provider refused the authorization code ({answer}); start the authorization again")
    return answer


def stored(values: dict[str, Any] | None, tokens: Tokens, url: str, token_auth: str = "post") -> dict[str, Any]:
    """The connector's Vault entry with these tokens: a missing refresh token keeps the old one; a mark of
    needs_reauth is cleared; a token endpoint taking the client by HTTP Basic is noted for the refreshes."""
    merged = {k: v for k, v in (values or {}).items() if k != NEEDS_REAUTH}
    merged[ACCESS_TOKEN] = tokens.access_token
    merged[EXPIRES_AT] = tokens.expires_at
    merged[TOKEN_URL] = url
    if token_auth != "post":
        merged[TOKEN_AUTH] = token_auth
    if tokens.refresh_token:
        merged[REFRESH_TOKEN] = tokens.refresh_token
    if tokens.scope:
        merged[SCOPE] = tokens.scope
    return merged


async def revoke(facts: ProviderFacts, values: dict[str, Any] | None, allow_private: bool = False) -> str:
    """Revoke at the provider the grant the platform obtained (a disconnect, before Vault forgets it), as the facts'
    `auth.revoke` says, at the origin of the token endpoint that issued it. Answers what happened, in words (never
    a token). A refusal of the token as invalid (400/401, or a 2xx naming an `error`) means it no longer works:
    counted as revoked. 429, 5xx and network failures raise a TransientError (the caller retries); any other
    refusal an OAuthError."""
    spec = facts.auth.revoke
    values = values or {}
    if spec is None:
        return f"{facts.title} offers no revocation by API"
    token = (values.get(REFRESH_TOKEN) if spec.token == "refresh_token" else None) or values.get(ACCESS_TOKEN)
    issuer = str(values.get(TOKEN_URL) or "")
    if not token or not issuer:  # never authorized, refused already (needs_reauth), or a token given by hand
        return "no OAuth2 grant to revoke"
    url = _origin(issuer) + spec.path
    request: dict[str, Any] = {"params": {spec.query_param: str(token)}} if spec.query_param else {}
    if spec.header:
        request["headers"] = {spec.header: str(token)}
    status, raw = await _send(spec.method, url, allow_private, "revocation endpoint", **request)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if status < 300 and not error:
        return f"access revoked at {facts.title}"
    if status in (400, 401) or status < 300:
        return f"access revoked at {facts.title} (the token no longer worked: {error or f'http_{status}'})"
    raise OAuthError(f"revocation endpoint {_origin(url)} answered {status} ({error or 'no error code'})")

"""OAuth2 for connectors: the authorization-code flow with PKCE (S256), and fresh access tokens for whoever calls a
provider's API.

The flow: `begin` keeps a one-time `state` in Redis for ten minutes, bound to the tenant, the connector, the PKCE
verifier, the redirect URI and the principal who started it; `take_state` consumes it atomically (GETDEL), so a
forged, expired or replayed state finds nothing. `token_url` picks the token endpoint, admitting a host named by the
callback (Zoho's `accounts-server`) only when the provider's facts list it. `exchange_code` trades the code (with the
verifier) for tokens, which are kept in Vault only (connectors/credentials.py), never in Postgres, logs, events or
answers.

`fresh_access_token` answers an access token valid for at least `skew_s` more. Refreshing is done by one holder at a
time per connector (a Redis lock; after taking it Vault is read again, since another holder may have refreshed). A
refresh answer without a refresh token keeps the old one. A refresh the provider refuses (`invalid_grant`) marks the
connector `needs_reauth` (in Vault, which every later call reads first, and in `connectors.status`, which the API
shows) and raises NeedsReauth: later calls fail fast without calling the provider, until the user reconnects. A 429,
a 5xx or a network failure while refreshing is a TransientError. All HTTP goes through `public_session`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import asyncpg
import msgspec
from redis.asyncio import Redis

from connectors.credentials import SecretStore
from connectors.facts import ProviderFacts
from connectors.public_http import public_session, refused_address
from db.pool import tenant_transaction
from events.errors import PermanentError, TransientError

STATE_TTL_S = 600  # an authorization must come back within ten minutes
REFRESH_SKEW_S = 300.0  # refresh when the access token has less than this left
LOCK_TTL_S = 30  # longer than a refresh can take (HTTP_TIMEOUT_S): a dead holder's lock expires after this
LOCK_WAIT_S = 20.0  # a caller waits this long for another holder's refresh, then answers a TransientError
HTTP_TIMEOUT_S = 10.0
DEFAULT_EXPIRES_IN_S = 3600  # when the provider does not say (RFC 6749 makes expires_in optional)
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_code"})  # RFC 6749 5.2; Zoho answers invalid_code

# what Vault keeps beside the connector's credential fields (client_id, client_secret)
ACCESS_TOKEN = "oauth_access_token"
REFRESH_TOKEN = "oauth_refresh_token"
EXPIRES_AT = "oauth_expires_at"  # unix seconds
TOKEN_URL = "oauth_token_url"  # the token endpoint that issued them (Zoho: the user's data centre)
NEEDS_REAUTH = "oauth_needs_reauth"  # the provider's error code when it refused the refresh token
SCOPE = "oauth_scope"

_state_key = "bz:oauth:state:{}".format
_lock_key = "bz:oauth:lock:{}:{}".format
# release the lock only if it is still ours (it may have expired and been taken by another holder)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


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


class PendingAuthorization(msgspec.Struct, frozen=True):
    tenant_id: str
    connector_id: str
    provider: str
    verifier: str  # the PKCE code verifier; only its S256 hash left the platform
    redirect_uri: str
    principal: str  # who started it (the API key id or the JWT subject)
    started_at: float


# --- the authorization-code flow ----------------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636: 43 characters of base64url from 32 random bytes."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def begin(
    redis: Redis, *, tenant_id: str, connector_id: str, provider: str, principal: str, redirect_uri: str
) -> tuple[str, str]:
    """Keep a new one-time state for this authorization; answer (state, code_challenge)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    pending = PendingAuthorization(tenant_id, connector_id, provider, verifier, redirect_uri, principal, time.time())
    await redis.set(_state_key(state), msgspec.json.encode(pending), ex=STATE_TTL_S, nx=True)
    return state, challenge


async def take_state(redis: Redis, state: str) -> PendingAuthorization | None:
    """The pending authorization of `state`, removed in the same step (GETDEL): a second use finds nothing."""
    if not state or len(state) > 200:
        return None
    raw = await redis.getdel(_state_key(state))
    return None if raw is None else msgspec.json.decode(raw, type=PendingAuthorization)


def authorize_url(
    facts: ProviderFacts, client_id: str, redirect_uri: str, state: str, challenge: str, base: str | None = None
) -> str:
    """The provider's authorization page (`base`: the connector's own, where each has one, e.g. a Shopify shop)."""
    auth = facts.auth
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": auth.scope_separator.join(auth.scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **auth.authorize_params,
    }
    base = base or auth.authorize_url
    separator = "&" if urlsplit(base).query else "?"
    return base + separator + urlencode(params)


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


async def _token_request(url: str, form: dict[str, str], allow_private: bool, now: float) -> Tokens | str:
    """POST a token request (RFC 6749 4.1.3 / 6, client_secret_post). Answers Tokens, or the provider's error code
    for a refusal (the caller decides what it means); raises TransientError for 429, 5xx and network failures."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    try:
        async with (
            public_session(allow_private, timeout=timeout) as session,
            session.post(url, data=form, headers={"Accept": "application/json"}) as resp,
        ):
            status = resp.status
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        if refused := refused_address(exc):  # not a public address: retrying cannot help
            raise refused from None
        raise TransientError(f"token endpoint {_origin(url)}: {type(exc).__name__}") from None
    if status == 429 or status >= 500:
        raise TransientError(f"token endpoint {_origin(url)} answered {status}")
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
) -> Tokens:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
        "code_verifier": verifier,
    }
    answer = await _token_request(url, form, allow_private, time.time() if now is None else now)
    if isinstance(answer, str):
        raise OAuthError(f"the provider refused the authorization code ({answer}); start the authorization again")
    return answer


def stored(values: dict[str, Any] | None, tokens: Tokens, url: str) -> dict[str, Any]:
    """The connector's Vault entry with these tokens: a missing refresh token keeps the old one; a mark of
    needs_reauth is cleared."""
    merged = {k: v for k, v in (values or {}).items() if k != NEEDS_REAUTH}
    merged[ACCESS_TOKEN] = tokens.access_token
    merged[EXPIRES_AT] = tokens.expires_at
    merged[TOKEN_URL] = url
    if tokens.refresh_token:
        merged[REFRESH_TOKEN] = tokens.refresh_token
    if tokens.scope:
        merged[SCOPE] = tokens.scope
    return merged


# --- fresh access tokens ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSource:
    """What `fresh_access_token` needs: Redis (the lock), the service pool (connectors.status), the secret store."""

    redis: Redis
    pool: asyncpg.Pool
    secrets: SecretStore
    allow_private: bool = False
    skew_s: float = REFRESH_SKEW_S
    clock: Callable[[], float] = time.time


def _valid(values: dict[str, Any] | None, now: float, skew_s: float) -> str | None:
    if values and values.get(ACCESS_TOKEN) and float(values.get(EXPIRES_AT, 0)) - skew_s > now:
        return str(values[ACCESS_TOKEN])
    return None


def _refusal(connector_id: str, values: dict[str, Any] | None) -> NeedsReauth | None:
    if not values or not (values.get(ACCESS_TOKEN) or values.get(REFRESH_TOKEN)):
        return NeedsReauth(connector_id, "not connected yet")
    if values.get(NEEDS_REAUTH):
        return NeedsReauth(connector_id, f"the provider refused the refresh token: {values[NEEDS_REAUTH]}")
    return None


async def fresh_access_token(source: TokenSource, tenant_id: str, connector_id: str) -> str:
    """An access token for the connector valid for at least `skew_s` more, refreshed by one holder at a time."""
    values = await source.secrets.read(tenant_id, connector_id)
    if token := _valid(values, source.clock(), source.skew_s):
        return token
    if _refusal(connector_id, values):  # the cache may be behind a reconnect elsewhere: ask Vault itself
        values = await source.secrets.read(tenant_id, connector_id, fresh=True)
        if refused := _refusal(connector_id, values):
            raise refused
    async with _lock(source.redis, tenant_id, connector_id):
        values = await source.secrets.read(tenant_id, connector_id, fresh=True)  # another holder may have refreshed
        if token := _valid(values, source.clock(), source.skew_s):
            return token
        if refused := _refusal(connector_id, values):
            raise refused
        assert values is not None
        return await _refresh(source, tenant_id, connector_id, values)


async def _refresh(source: TokenSource, tenant_id: str, connector_id: str, values: dict[str, Any]) -> str:
    if not values.get(REFRESH_TOKEN):
        await _mark_needs_reauth(source, tenant_id, connector_id, values, "no_refresh_token")
        raise NeedsReauth(connector_id, "the access token expired and the provider gave no refresh token")
    url = str(values.get(TOKEN_URL) or "")
    if not url:
        raise OAuthError(f"connector {connector_id} has no token endpoint on record; reconnect it")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": str(values[REFRESH_TOKEN]),
        "client_id": str(values.get("client_id", "")),
        "client_secret": str(values.get("client_secret", "")),
    }
    answer = await _token_request(url, form, source.allow_private, source.clock())
    if isinstance(answer, str):
        if answer in REAUTH_ERRORS:
            await _mark_needs_reauth(source, tenant_id, connector_id, values, answer)
            raise NeedsReauth(connector_id, f"the provider refused the refresh token: {answer}")
        # invalid_client and the like: the client id or secret needs a fix (PATCH the connector's secrets)
        raise OAuthError(f"the provider refused to refresh connector {connector_id}'s token ({answer})")
    await source.secrets.write(tenant_id, connector_id, stored(values, answer, url))
    return answer.access_token


async def _mark_needs_reauth(
    source: TokenSource, tenant_id: str, connector_id: str, values: dict[str, Any], reason: str
) -> None:
    """Vault first (every call reads it before anything else, so no call reaches the provider again), then the
    status the API shows."""
    kept = {k: v for k, v in values.items() if k not in (ACCESS_TOKEN, REFRESH_TOKEN, EXPIRES_AT)}
    await source.secrets.write(tenant_id, connector_id, {**kept, NEEDS_REAUTH: reason})
    async with tenant_transaction(source.pool, tenant_id) as conn:
        await conn.execute(
            "UPDATE connectors SET status = 'needs_reauth', updated_at = now() WHERE id = $1", connector_id
        )


class _lock:
    """A Redis lock per connector (SET NX PX with a random token; released only by its holder)."""

    def __init__(self, redis: Redis, tenant_id: str, connector_id: str) -> None:
        self.redis, self.key, self.token = redis, _lock_key(tenant_id, connector_id), uuid.uuid4().hex

    async def __aenter__(self) -> None:
        deadline = time.monotonic() + LOCK_WAIT_S
        delay = 0.01
        while not await self.redis.set(self.key, self.token, nx=True, ex=LOCK_TTL_S):
            if time.monotonic() > deadline:
                raise TransientError(f"another holder is refreshing {self.key.rsplit(':', 1)[-1]}'s token; retry")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def __aexit__(self, *exc: object) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)

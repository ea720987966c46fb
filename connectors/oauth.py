"""OAuth2 for connectors: the authorization-code flow with PKCE (S256), and the one place callers import OAuth2
from (the token endpoints are connectors/oauth_tokens.py, fresh access tokens connectors/oauth_refresh.py; their
names are re-exported here).

The flow: `begin` keeps a one-time `state` in Redis for ten minutes, bound to the tenant, the connector, the PKCE
verifier, the redirect URI and the principal who started it; `take_state` consumes it atomically (GETDEL), so a
forged, expired or replayed state finds nothing. `authorize_url` is the provider's page the user is sent to;
`token_url` and `exchange_code` finish the flow, `stored` is what Vault keeps, and `revoke` ends the grant at the
provider when the connector is disconnected.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode, urlsplit

import msgspec
from redis.asyncio import Redis

from connectors.facts import ProviderFacts
from connectors.oauth_refresh import TokenSource, fresh_access_token
from connectors.oauth_tokens import (
    ACCESS_TOKEN,
    EXPIRES_AT,
    NEEDS_REAUTH,
    REFRESH_TOKEN,
    SCOPE,
    TOKEN_AUTH,
    TOKEN_URL,
    NeedsReauth,
    OAuthError,
    TokenHostRefused,
    Tokens,
    exchange_code,
    revoke,
    stored,
    token_url,
)

__all__ = [
    "ACCESS_TOKEN",
    "EXPIRES_AT",
    "NEEDS_REAUTH",
    "REFRESH_TOKEN",
    "SCOPE",
    "TOKEN_AUTH",
    "TOKEN_URL",
    "NeedsReauth",
    "OAuthError",
    "PendingAuthorization",
    "TokenHostRefused",
    "TokenSource",
    "Tokens",
    "api_base_endpoints",
    "authorize_url",
    "begin",
    "exchange_code",
    "fresh_access_token",
    "pkce_pair",
    "revoke",
    "stored",
    "take_state",
    "token_url",
]

STATE_TTL_S = 600  # an authorization must come back within ten minutes

_state_key = "bz:oauth:state:{}".format


class PendingAuthorization(msgspec.Struct, frozen=True):
    tenant_id: str
    connector_id: str
    provider: str
    verifier: str  # the PKCE code verifier; only its S256 hash left the platform
    redirect_uri: str
    principal: str  # who started it (the API key id or the JWT subject)
    started_at: float
    return_to: str = ""  # a portal page to send the browser back to; "": the callback answers JSON


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), RFC 7636: 43 characters of base64url from 32 random bytes."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def begin(
    redis: Redis,
    *,
    tenant_id: str,
    connector_id: str,
    provider: str,
    principal: str,
    redirect_uri: str,
    return_to: str = "",
) -> tuple[str, str]:
    """Keep a new one-time state for this authorization; answer (state, code_challenge)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    pending = PendingAuthorization(
        tenant_id, connector_id, provider, verifier, redirect_uri, principal, time.time(), return_to
    )
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


def api_base_endpoints(facts: ProviderFacts, api_base: str | None, token_path: str) -> tuple[str, str]:
    """(authorize URL, token URL) of a provider whose endpoints are the facts' for every connector, except where its
    api.py's API_BASE points its API elsewhere (tests): the token endpoint is then `token_path` under that base."""
    if api_base:
        return facts.auth.authorize_url, api_base.rstrip("/") + token_path
    return facts.auth.authorize_url, facts.auth.token_url

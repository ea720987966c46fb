"""Fresh OAuth2 access tokens for whoever calls a provider's API: `fresh_access_token` answers one valid for at least
`skew_s` more. Refreshing is done by one holder at a time per connector (a Redis lock; after taking it Vault is read
again, since another holder may have refreshed). A refresh answer without a refresh token keeps the old one. A
refresh the provider refuses (`invalid_grant`) marks the connector `needs_reauth` (in Vault, which every later call
reads first, and in `connectors.status`, which the API shows) and raises NeedsReauth: later calls fail fast without
calling the provider, until the user reconnects. A 429, a 5xx or a network failure while refreshing is a
TransientError.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from connectors.credentials import SecretStore
from connectors.oauth_tokens import (
    ACCESS_TOKEN,
    EXPIRES_AT,
    NEEDS_REAUTH,
    REFRESH_TOKEN,
    TOKEN_AUTH,
    TOKEN_URL,
    NeedsReauth,
    OAuthError,
    stored,
    token_request,
)
from db.pool import tenant_transaction
from events.errors import TransientError

REFRESH_SKEW_S = 300.0  # refresh when the access token has less than this left
LOCK_TTL_S = 30  # longer than a refresh can take (HTTP_TIMEOUT_S): a dead holder's lock expires after this
LOCK_WAIT_S = 20.0  # a caller waits this long for another holder's refresh, then answers a TransientError
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_code"})  # RFC 6749 5.2; Zoho answers invalid_code

_lock_key = "bz:oauth:lock:{}:{}".format
# release the lock only if it is still ours (it may have expired and been taken by another holder)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


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
    answer = await token_request(url, form, source.allow_private, source.clock(), str(values.get(TOKEN_AUTH) or "post"))
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

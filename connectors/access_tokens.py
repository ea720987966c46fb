"""An OAuth2 connector's access token for its provider API calls: `connectors.oauth.fresh_access_token` bound to one
connector, as `ApiCall.access_token` (built by connectors/sync.py when the provider's auth is oauth2).

Called with None: a token valid for a while more (the one in Vault, or a refreshed one: oauth.py refreshes it under
its per-connector lock). Called with the token the provider just refused (revoked, or its expiry ahead of the
provider's clock): Vault is read again, and a different valid token there (another holder refreshed meanwhile) is
answered; otherwise a refresh is forced, through the same `fresh_access_token` and lock, by a token source that takes
no stored token for valid. Refused refresh tokens mark the connector needs_reauth, as every refresh does.

The provider api modules ask `access_token` (that source, or without one the stored token while it is valid), and
`with_access_token` repeats a request once with a new token when the provider refuses the one it carried.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from connectors.base import ApiCall, ProviderRefused
from connectors.oauth import ACCESS_TOKEN, EXPIRES_AT, TokenSource, fresh_access_token

FORCE_SKEW_S = 10.0 * 365 * 86400  # no stored token has this long left: a refresh is made
STORED_SKEW_S = 60.0  # a stored access token is used only with at least this long left
RECONNECT = "reconnect it (GET /v1/connectors/{id}/oauth/authorize)"

T = TypeVar("T")


def bound_token(source: TokenSource, tenant_id: str, connector_id: str) -> Callable[[str | None], Awaitable[str]]:
    async def access_token(rejected: str | None = None) -> str:
        if rejected is None:
            return await fresh_access_token(source, tenant_id, connector_id)
        values = await source.secrets.read(tenant_id, connector_id, fresh=True) or {}
        held = values.get(ACCESS_TOKEN)
        if held and held != rejected and float(values.get(EXPIRES_AT, 0)) - source.skew_s > time.time():
            return str(held)
        return await fresh_access_token(replace(source, skew_s=FORCE_SKEW_S), tenant_id, connector_id)

    return access_token


async def access_token(call: ApiCall, rejected: str | None = None) -> str:
    """The token a provider API call carries: `call.access_token`'s (the sync's token source, asked for a new one
    when `rejected`); without a source, the access token in the connector's secrets while it has a minute left."""
    if call.access_token is not None:
        return await call.access_token(rejected)
    token = str(call.secrets.get(ACCESS_TOKEN) or "")
    if rejected is None and token and float(call.secrets.get(EXPIRES_AT, 0)) - STORED_SKEW_S > time.time():
        return token
    never = "it was never connected; " if not token else ""
    raise ProviderRefused(
        f"{call.facts.title}: the connector has no valid access token and no token source to refresh it: {never}"
        + RECONNECT
    )


class TokenRefused(Exception):
    """The provider refused the access token a request carried (raised by an api module's error check)."""


async def with_access_token(call: ApiCall, send: Callable[[str], Awaitable[T]], refused: str) -> T:
    """`send(token)`, repeated once with a new token when it raises TokenRefused and the call has a token source
    to ask; a second refusal, or one without a source, is ProviderRefused(`refused` + how to fix it)."""
    token = await access_token(call)
    try:
        return await send(token)
    except TokenRefused:
        if call.access_token is None:
            raise ProviderRefused(refused + RECONNECT) from None
    try:
        return await send(await access_token(call, rejected=token))
    except TokenRefused:
        raise ProviderRefused(refused + RECONNECT) from None

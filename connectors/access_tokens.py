"""An OAuth2 connector's access token for its provider API calls: `connectors.oauth.fresh_access_token` bound to one
connector, as `ApiCall.access_token` (built by connectors/sync.py when the provider's auth is oauth2).

Called with None: a token valid for a while more (the one in Vault, or a refreshed one: oauth.py refreshes it under
its per-connector lock). Called with the token the provider just refused (revoked, or its expiry ahead of the
provider's clock): Vault is read again, and a different valid token there (another holder refreshed meanwhile) is
answered; otherwise a refresh is forced, through the same `fresh_access_token` and lock, by a token source that takes
no stored token for valid. Refused refresh tokens mark the connector needs_reauth, as every refresh does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from connectors.oauth import ACCESS_TOKEN, EXPIRES_AT, TokenSource, fresh_access_token

FORCE_SKEW_S = 10.0 * 365 * 86400  # no stored token has this long left: a refresh is made


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

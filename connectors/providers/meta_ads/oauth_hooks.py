"""Meta Ads' hooks into the OAuth2 connect routes (gateway/routes_oauth.py): Facebook Login's dialog and token
endpoint are the facts' for every connector, except where api.py's API_BASE points the Graph API elsewhere (tests);
a callback carries nothing to check beyond the platform's one-time state.

`finish`: the code gives a short-lived user token (an hour or two) and Meta issues no refresh token, so the callback
exchanges it at once for a long-lived one (about 60 days: `grant_type=fb_exchange_token` at the same endpoint, with
the app's id and secret; "Long-Lived Access Tokens"), sent as a form body so the app secret is in no URL. When that
token expires the connector needs to be connected again (needs_reauth), as without a refresh token anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from connectors.base import ProviderRefused
from connectors.oauth import api_base_endpoints
from connectors.oauth_tokens import OAuthError, Tokens, token_request
from connectors.providers.meta_ads import api
from connectors.registry import get_facts

REFUSED = ProviderRefused


def endpoints(config: Mapping[str, Any], allow_private: bool = False) -> tuple[str, str]:
    """(authorize URL, token URL)."""
    return api_base_endpoints(get_facts("meta-ads"), api.API_BASE, "/oauth/access_token")


async def finish(tokens: Tokens, secrets: Mapping[str, Any], url: str, allow_private: bool = False) -> Tokens:
    """The short-lived token the code gave, exchanged for a long-lived one (OAuthError when Meta refuses)."""
    form = {
        "grant_type": "fb_exchange_token",
        "client_id": str(secrets.get("client_id", "")),
        "client_secret": str(secrets.get("client_secret", "")),
        "fb_exchange_token": tokens.access_token,
    }
    answer = await token_request(url, form, allow_private, time.time())
    if isinstance(answer, str):
        raise OAuthError(f"Meta refused to exchange the token for a long-lived one ({answer}); connect again")
    return answer

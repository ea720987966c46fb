"""Calls to Google's APIs, shared by the four Google packages (Ads, Analytics, Merchant, Tag Manager): one OAuth2
client, one error reading, one place that knows where the APIs are.

OAuth2: every Google API takes the same authorization (`https://accounts.google.com/o/oauth2/v2/auth` with
`access_type=offline` and `prompt=consent`, so a refresh token is issued on every consent) and token endpoint
(`https://oauth2.googleapis.com/token`); only the scopes differ. The facts say so in each package's provider.toml
(`GOOGLE_AUTH` below is what tests/test_google_oauth.py holds every Google provider.toml to), and connectors/oauth.py
runs the flow, stores the tokens in Vault and refreshes them under its lock, as for Zoho. Here: `Authorization:
Bearer <token>` from `call.access_token` (the sync's token source), else the stored token while it has a minute
left (connectors/access_tokens.py); a 401 asks the source for a new token once and repeats the request.

Errors (Google's `{"error": {"code", "message", "status", "details"}}`, AIP-193): 429 RESOURCE_EXHAUSTED and 5xx are
ProviderBusy (Retry-After when sent, else the details' `retryDelay`), 401 once more then ProviderRefused naming the
fix (reconnect), 403 PERMISSION_DENIED, 404 and 400 INVALID_ARGUMENT ProviderRefused with Google's status and
message. Connection errors stay aiohttp's (transient), a non-public address NotPublicAddress (permanent).

Where: the fixed hosts of provider.toml's `base_url`. `API_ROOT` (tests and `bizosaas dev`, like Stripe's API_BASE:
never a tenant's setting, since the token goes there) replaces their scheme and host, keeping the path.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp

from connectors.access_tokens import RECONNECT, TokenRefused, with_access_token
from connectors.api_http import api_request, error_body, raise_if_busy
from connectors.base import ApiCall, ProviderRefused
from connectors.facts import base_url

API_ROOT: str | None = None

# what every Google provider.toml's [auth] says (tests/test_google_oauth.py checks them against this)
GOOGLE_AUTH = {
    "kind": "oauth2",
    "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_url": "https://oauth2.googleapis.com/token",
    "scope_separator": " ",
    "authorize_params": {"access_type": "offline", "prompt": "consent"},
}


def rooted(url: str) -> str:
    """A Google API URL, its scheme and host replaced by API_ROOT when set."""
    return API_ROOT.rstrip("/") + urlsplit(url).path if API_ROOT else url


def api_base(call: ApiCall) -> str:
    """The API's base URL (provider.toml's, rooted), ending in '/'."""
    return rooted(base_url(call.facts, dict(call.config)))


def _retry_delay_s(body: dict[str, Any]) -> float | None:
    """google.rpc.RetryInfo's `retryDelay` ("7s") among the error's details, in seconds."""
    for detail in body.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if status < 400:
        return
    body = await error_body(response)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code, message = str(error.get("status") or ""), str(error.get("message") or "")[:300]
    detail = f"HTTP {status}{f' {code}' if code else ''}{f': {message}' if message else ''}"
    title = call.facts.title
    raise_if_busy(response, call, title, what, detail, _retry_delay_s(error))
    if status == 401:
        raise TokenRefused
    if status == 403:
        raise ProviderRefused(
            f"{title} {what}: refused ({detail}): the Google account needs access to it and the connection the "
            f"scopes {' '.join(call.facts.auth.scopes)}: check the ids in the connector's config, or {RECONNECT}"
        )
    if status == 404:
        raise ProviderRefused(f"{title} {what}: not found ({detail}): check the ids in the connector's config")
    raise ProviderRefused(f"{title} {what}: Google refused the request ({detail})")


async def send(
    call: ApiCall, method: str, url: str, what: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> Any:
    """One request with the connector's access token, repeated once with a new token when Google refuses it.
    Answers the JSON body ({} for an empty one)."""

    async def attempt(token: str) -> Any:
        auth = {"Authorization": f"Bearer {token}", **(headers or {})}
        async with api_request(call, method, url, auth, redirects=True, **kwargs) as response:
            await _check(response, call, what)
            raw = await response.read()
            return await response.json(content_type=None) if raw.strip() else {}

    refused = f"{call.facts.title} {what}: Google refused the access token (HTTP 401 UNAUTHENTICATED): "
    return await with_access_token(call, attempt, refused)


def digits(value: Any, name: str) -> str:
    """An id Google writes with digits only (a customer id without its dashes, a property id): refused otherwise,
    so a config value never reaches a URL path unchecked."""
    cleaned = str(value or "").replace("-", "").strip()
    if not cleaned.isdigit():
        raise ProviderRefused(f"config.{name} must be digits (e.g. 123-456-7890 or 1234567890), not {value!r}")
    return cleaned

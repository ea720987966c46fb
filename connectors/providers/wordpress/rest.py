"""The WordPress REST API's common ground, for WordPress itself and for plugins that live under /wp-json/
(FluentCRM): application passwords as HTTP basic auth, the error body `{"code", "message", "data": {"status"}}`,
and what a status means for a sync.

Application passwords (WordPress 5.6+) are the user's login and a 24-character password shown once, sent as HTTP
basic auth; WordPress strips the spaces it displays the password with, so either form works. 401 means the login
or password is wrong (or a security plugin removed the Authorization header), 403 that the user may not do this;
both are permanent (ProviderRefused, with the fix). 429 and 5xx are ProviderBusy (transient, with Retry-After when
sent). Connection errors stay aiohttp's (transient by events.errors), a non-public address NotPublicAddress.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from connectors.base import ApiCall, ProviderBusy, ProviderRefused, retry_after_s
from connectors.public_http import public_session, refused_address

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)
MAX_PER_PAGE = 100


def auth_header(call: ApiCall) -> dict[str, str]:
    """Authorization: Basic login:application password (built here: aiohttp.BasicAuth is deprecated)."""
    auth = call.facts.auth
    pair = f"{call.secrets.get(auth.username_field, '')}:{call.secrets.get(auth.password_field, '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def int_header(headers: Any, name: str) -> int | None:
    try:
        return int(headers[name]) if name and name in headers else None
    except ValueError:
        return None


async def check(response: aiohttp.ClientResponse, call: ApiCall, product: str, what: str, permissions: str) -> None:
    """Raise for an error answer. `permissions` says what the user needs (the 403 fix)."""
    status = response.status
    if status < 400:
        return
    try:
        body = await response.json(content_type=None)
        code = str(body.get("code", "")) if isinstance(body, dict) else ""
        message = str(body.get("message", ""))[:300] if isinstance(body, dict) else ""
    except ValueError:
        code = message = ""
    detail = f"HTTP {status}{f' {code}' if code else ''}"
    if status == 429 or status >= 500:
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        raise ProviderBusy(f"{product} {what}: {detail}, try later", retry_after_s(response.headers, header))
    if status == 401:
        raise ProviderRefused(
            f"{product} {what}: the site refused the login ({detail}): check secrets.username is the user's login "
            "and secrets.application_password an application password of that user (Users > Profile > "
            "Application Passwords), not revoked; a security plugin or the web server may also drop the "
            "Authorization header"
        )
    if status == 403:
        raise ProviderRefused(f"{product} {what}: the user may not do this ({detail}): {permissions}")
    if status == 404:
        raise ProviderRefused(
            f"{product} {what}: not found ({detail}) at {response.url.with_query(None)}: check the site URL, that "
            "the REST API is enabled (Settings > Permalinks must not be 'Plain')"
            + (f" and that {product} is active" if product != "WordPress" else "")
        )
    raise ProviderRefused(
        f"{product} {what}: the site refused the request ({detail}{f': {message}' if message else ''})"
    )


@contextlib.asynccontextmanager
async def request(call: ApiCall, method: str, url: str, **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request with the application password; a connection refused for a non-public address is
    NotPublicAddress (permanent), not the connection error aiohttp wraps it in (transient)."""
    async with public_session(call.allow_private, timeout=TIMEOUT) as session:
        try:
            async with session.request(method, url, headers=auth_header(call), **kwargs) as response:
                yield response
        except aiohttp.ClientConnectionError as exc:
            refused = refused_address(exc)
            if refused is not None:
                raise refused from None
            raise

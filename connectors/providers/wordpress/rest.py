"""The WordPress REST API's common ground, for WordPress itself and for plugins that live under /wp-json/
(FluentCRM): application passwords as HTTP basic auth, the error body `{"code", "message", "data": {"status"}}`,
and what a status means for a sync; and the list page (a JSON array counted by X-WP-Total), which WooCommerce's
answers share too.

Application passwords (WordPress 5.6+) are the user's login and a 24-character password shown once, sent as HTTP
basic auth; WordPress strips the spaces it displays the password with, so either form works. 401 means the login
or password is wrong (or a security plugin removed the Authorization header), 403 that the user may not do this;
both are permanent (ProviderRefused, with the fix). 429 and 5xx are ProviderBusy (transient, with Retry-After when
sent). Connection errors stay aiohttp's (transient by events.errors), a non-public address NotPublicAddress.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from connectors.api_http import ResponseContext, api_request, basic_auth, error_body, int_header, raise_if_busy
from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource

MAX_PER_PAGE = 100


async def check(response: aiohttp.ClientResponse, call: ApiCall, product: str, what: str, permissions: str) -> None:
    """Raise for an error answer. `permissions` says what the user needs (the 403 fix)."""
    status = response.status
    if status < 400:
        return
    body = await error_body(response)
    code, message = str(body.get("code", "")), str(body.get("message", ""))[:300]
    detail = f"HTTP {status}{f' {code}' if code else ''}"
    raise_if_busy(response, call, product, what, detail)
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


def request(call: ApiCall, method: str, url: str, **kwargs: Any) -> ResponseContext:
    """One request with the application password."""
    return api_request(call, method, url, basic_auth(call), redirects=True, **kwargs)


async def list_page(response: aiohttp.ClientResponse, product: str, resource: Resource) -> Page:
    """A list answer as a page (WordPress's and WooCommerce's): a JSON array, counted by X-WP-Total and the
    resource's total-pages header."""
    body = await response.json(content_type=None)
    if not isinstance(body, list):
        raise ProviderRefused(f"{product} listing {resource.name}: the answer is not a JSON list")
    return Page(
        objects=[o for o in body if isinstance(o, dict)],
        total=int_header(response.headers, "X-WP-Total"),
        total_pages=int_header(response.headers, resource.total_pages_header),
    )

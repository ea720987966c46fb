"""One request of a provider's API through the public-address guard, and the reading of its error answers, shared
by the api modules that speak plain REST (Shopify, Stripe, Lago, WooCommerce, WordPress and FluentCRM, Zoho CRM,
Google's, Plane, Trello). A connection refused for a non-public address is NotPublicAddress (permanent), not the
connection error aiohttp wraps it in (transient); other connection errors stay aiohttp's (transient by
events.errors). 429 and 5xx are ProviderBusy everywhere; what another error status means is each provider's own."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from connectors.base import ApiCall, ProviderBusy, retry_after_s
from connectors.public_http import public_session, refused_address

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)
# what `api_request` answers, and an api module's own `_request` over it: `async with` gives the response
ResponseContext = contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]


@contextlib.asynccontextmanager
async def api_request(
    call: ApiCall, method: str, url: str, headers: Mapping[str, str], redirects: bool = False, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """`method url` with aiohttp's keyword arguments. Redirects are not followed (Plane, Trello), so no credential
    header follows one; `redirects=True` follows them (every hop still checked public), as the older modules did."""
    async with public_session(call.allow_private, timeout=TIMEOUT) as session:
        try:
            async with session.request(method, url, headers=headers, allow_redirects=redirects, **kwargs) as response:
                yield response
        except aiohttp.ClientConnectionError as exc:
            refused = refused_address(exc)
            if refused is not None:
                raise refused from None
            raise


def basic_auth(call: ApiCall) -> dict[str, str]:
    """Authorization: Basic from the secrets `call.facts.auth` names (built here: aiohttp.BasicAuth is deprecated)."""
    auth = call.facts.auth
    pair = f"{call.secrets.get(auth.username_field, '')}:{call.secrets.get(auth.password_field, '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A count header's value (X-WP-Total); None when unnamed, absent or not a number."""
    try:
        return int(headers[name]) if name and name in headers else None
    except ValueError:
        return None


async def error_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """An error answer's JSON object; {} when its body is not one."""
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def error_detail(response: aiohttp.ClientResponse, *fields: str) -> str:
    """`HTTP <status>` and the first of the body's `fields` that says why (JSON), or its first line (text)."""
    raw = (await response.read())[:2000].decode("utf-8", "replace")
    said = ""
    try:
        body = json.loads(raw)
        if isinstance(body, dict):
            said = next((str(body[f]) for f in fields if body.get(f)), "")
    except ValueError:
        said = raw.strip().splitlines()[0] if raw.strip() else ""
    return f"HTTP {response.status}{f' {said[:300]}' if said else ''}"


def raise_if_busy(
    response: aiohttp.ClientResponse, call: ApiCall, title: str, what: str, detail: str, delay_s: float | None = None
) -> None:
    """429 and 5xx: ProviderBusy, not before the provider's Retry-After (else `delay_s`, a delay its body named)."""
    if response.status == 429 or response.status >= 500:
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        delay = retry_after_s(response.headers, header)
        raise ProviderBusy(f"{title} {what}: {detail}, try later", delay if delay is not None else delay_s)

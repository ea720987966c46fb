"""One request of a provider's API through the public-address guard, shared by the api modules written since
issue 13 (Plane, Trello): a connection refused for a non-public address is NotPublicAddress (permanent), not the
connection error aiohttp wraps it in (transient); and the common reading of an error answer."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from connectors.base import ApiCall, ProviderBusy, retry_after_s
from connectors.public_http import public_session, refused_address

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)


@contextlib.asynccontextmanager
async def api_request(
    call: ApiCall, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    async with public_session(call.allow_private, timeout=TIMEOUT) as session:
        try:
            async with session.request(method, url, headers=headers, allow_redirects=False, **kwargs) as response:
                yield response
        except aiohttp.ClientConnectionError as exc:
            refused = refused_address(exc)
            if refused is not None:
                raise refused from None
            raise


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


def raise_if_busy(response: aiohttp.ClientResponse, call: ApiCall, title: str, what: str, detail: str) -> None:
    """429 and 5xx: ProviderBusy, not before the provider's Retry-After."""
    if response.status == 429 or response.status >= 500:
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        raise ProviderBusy(f"{title} {what}: {detail}, try later", retry_after_s(response.headers, header))

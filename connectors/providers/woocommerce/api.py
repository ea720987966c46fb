"""WooCommerce's REST API v3, as a sync and the actions call it: one page of a resource, and `update_stock`.

Basic auth with the consumer key pair (over HTTPS; WooCommerce also accepts it over plain HTTP on a local store).
Pages are `page`/`per_page` (at most 100) with X-WP-Total and X-WP-TotalPages; `modified_after`/`modified_before`
with `dates_are_gmt=true` bound a window by `date_modified_gmt` (both strict, as WordPress's date_query is). Objects
become events with mapping.py, the functions the webhook path uses, so an order looks the same however it arrived.

Failures: 429 and 5xx are ProviderBusy (transient, with Retry-After), 401/403/404 and other 4xx ProviderRefused
(permanent, with a message a person can act on). Connection errors stay aiohttp's (transient by events.errors), a
non-public address stays NotPublicAddress (permanent).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from connectors.api_http import ResponseContext, api_request, basic_auth, error_body, int_header, raise_if_busy
from connectors.base import ApiCall, Page, ProviderRefused, Registration
from connectors.facts import Resource, base_url
from connectors.providers.woocommerce.mapping import MAPPERS, MODIFIED_FIELD
from connectors.providers.woocommerce.webhook import TOPICS
from connectors.providers.wordpress.rest import list_page

__all__ = [
    "MAPPERS",
    "cursor_of",
    "read_page",
    "reconciles",
    "register_webhooks",
    "test_connection",
    "unregister_webhooks",
    "update_stock",
]

MAX_PER_PAGE = 100


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if status < 400:
        return
    code = str((await error_body(response)).get("code", ""))
    detail = f"HTTP {status}{f' {code}' if code else ''}"
    raise_if_busy(response, call, "WooCommerce", what, detail)
    if status in (401, 403):
        raise ProviderRefused(
            f"WooCommerce {what}: the store refused the consumer key ({detail}): check that the key exists, is "
            "copied whole (ck_... and cs_...) and has Read/Write permission (WooCommerce > Settings > Advanced > "
            "REST API)"
        )
    if status == 404:
        raise ProviderRefused(
            f"WooCommerce {what}: not found ({detail}) at {response.url.with_query(None)}: check the store URL and "
            "that the WordPress REST API is enabled (Settings > Permalinks must not be 'Plain')"
        )
    raise ProviderRefused(f"WooCommerce {what}: the store refused the request ({detail})")


def _request(call: ApiCall, method: str, url: str, **kwargs: Any) -> ResponseContext:
    """One request with the consumer key pair."""
    return api_request(call, method, url, basic_auth(call), redirects=True, **kwargs)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
) -> Page:
    """Page `page` (from 1) of `resource`, ordered by id ascending, inside the window (since, until) of
    `date_modified_gmt` when the resource takes `since_param` (both None: everything)."""
    params = {
        "page": str(page),
        "per_page": str(min(per_page or resource.page_size, MAX_PER_PAGE)),
        "orderby": "id",
        "order": "asc",
    }
    if resource.since_param and (since or until):
        params["dates_are_gmt"] = "true"
        if since:
            params[resource.since_param] = since
        if until:
            params[resource.since_param.replace("_after", "_before")] = until
    url = base_url(call.facts, dict(call.config)) + resource.path
    async with _request(call, "GET", url, params=params) as response:
        await _check(response, call, f"listing {resource.name}")
        return await list_page(response, "WooCommerce", resource)


async def test_connection(call: ApiCall) -> None:
    """One object of the first resource: raises ProviderRefused when the URL or the keys are wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """The object's checkpoint value (its `cursor_field`, date_modified_gmt), or None."""
    value = obj.get(resource.cursor_field or MODIFIED_FIELD)
    return str(value) if value else None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Whether a record of the resource's kind is one this resource lists, so that not listing it means deleted.
    Orders also make contacts for guest buyers (`guest:<email>`), which the customers list never shows."""
    return not external_id.startswith("guest:")


async def update_stock(call: ApiCall, product_id: str, stock_quantity: int) -> dict[str, Any]:
    """The `update_stock` action: PUT products/{id} {"stock_quantity": n} (WooCommerce manages the stock when a
    quantity is set). Answers the updated product."""
    if not str(product_id).isdigit() or int(stock_quantity) < 0:
        raise ProviderRefused("update_stock: product_id must be a WooCommerce product id and stock_quantity >= 0")
    url = base_url(call.facts, dict(call.config)) + f"products/{product_id}"
    body = {"manage_stock": True, "stock_quantity": int(stock_quantity)}
    async with _request(call, "PUT", url, json=body) as response:
        await _check(response, call, f"updating product {product_id}")
        return await response.json(content_type=None)


async def _webhooks(call: ApiCall) -> list[dict[str, Any]]:
    """Every webhook of the store (GET webhooks, paged like any list)."""
    found: list[dict[str, Any]] = []
    url = base_url(call.facts, dict(call.config)) + "webhooks"
    page, pages = 1, 1
    while page <= pages:
        params = {"page": str(page), "per_page": str(MAX_PER_PAGE), "orderby": "id", "order": "asc"}
        async with _request(call, "GET", url, params=params) as response:
            await _check(response, call, "listing webhooks")
            body = await response.json(content_type=None)
            pages = int_header(response.headers, "X-WP-TotalPages") or 1
        found += [w for w in body if isinstance(w, dict)] if isinstance(body, list) else []
        page += 1
    return found


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One webhook per topic the normalizer maps (POST webhooks {name, topic, delivery_url, secret}), signed with
    `secret`. Webhooks of the store already delivering a topic to `delivery_url` (an earlier attempt's) are kept,
    and a paused or disabled one is made active again, so registering twice makes nothing new."""
    url = base_url(call.facts, dict(call.config)) + "webhooks"
    held = {w.get("topic"): w for w in await _webhooks(call) if w.get("delivery_url") == delivery_url}
    webhooks: dict[str, str] = {}
    for topic in sorted(TOPICS):
        existing = held.get(topic)
        if existing is not None:
            if existing.get("status") != "active":
                async with _request(call, "PUT", f"{url}/{existing['id']}", json={"status": "active"}) as response:
                    await _check(response, call, f"activating webhook {existing['id']}")
            webhooks[topic] = str(existing["id"])
            continue
        body = {"name": f"BizOSaaS {topic}", "topic": topic, "delivery_url": delivery_url, "secret": secret}
        async with _request(call, "POST", url, json=body) as response:
            await _check(response, call, f"creating the {topic} webhook")
            webhooks[topic] = str((await response.json(content_type=None))["id"])
    return Registration(webhooks, secret)


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """DELETE webhooks/{id}?force=true (webhooks cannot be trashed); one already gone (404) is fine."""
    url = base_url(call.facts, dict(call.config)) + "webhooks"
    for webhook_id in webhook_ids:
        async with _request(call, "DELETE", f"{url}/{webhook_id}", params={"force": "true"}) as response:
            if response.status != 404:
                await _check(response, call, f"deleting webhook {webhook_id}")

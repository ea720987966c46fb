"""Shopify's Admin REST API, as a sync and the actions call it: one page of orders, products or customers, and
`update_order_tags`.

Auth: the Admin API access token in `X-Shopify-Access-Token`, from the OAuth2 install (connectors/oauth.py keeps it in
Vault as `oauth_access_token`; offline tokens do not expire, so it is read as it is, never refreshed) or given as the
`access_token` credential (a custom app's Admin API token, shpat_...). The shop is checked (shop.py) before the
token is sent anywhere.

Lists page by cursor (shopify.dev, "Make paginated requests to the REST Admin API"): the answer's `Link` header has
`<...page_info=...>; rel="next"` while more remain; a request with `page_info` may carry no filter but `limit` (at most
250), since the cursor keeps the first request's filters. The first page carries the window: `updated_at_min` /
`updated_at_max` (ISO 8601; the sync's UTC times get a `Z`, since Shopify would read a bare time in the shop's zone),
and orders `status=any` (the default lists open orders only). The `page_info` is the sync's cursor
(`pagination = "cursor"` in provider.toml); a deletion does not shift it. Objects become events with mapping.py, the
functions the webhook path uses; their version is `updated_at`.

Failures: 429 (with Retry-After, seconds) and 5xx are ProviderBusy; 401 names the token, 403 the scopes, 402 and 423
the shop's state, 404 the shop URL; other 4xx ProviderRefused with Shopify's `errors`.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from connectors.api_http import ResponseContext, api_request, error_body, raise_if_busy
from connectors.base import ApiCall, Page, ProviderRefused, Registration
from connectors.facts import Resource, base_url
from connectors.oauth import ACCESS_TOKEN
from connectors.providers.shopify.mapping import MAPPERS, MODIFIED_FIELD
from connectors.providers.shopify.shop import ShopRefused, shop_origin
from connectors.providers.shopify.webhook import TOPICS

__all__ = [
    "MAPPERS",
    "cursor_of",
    "read_page",
    "reconciles",
    "register_webhooks",
    "test_connection",
    "unregister_webhooks",
    "update_order_tags",
]

MAX_LIMIT = 250
TOKEN_HEADER = "X-Shopify-Access-Token"
# filters a first page sends per resource: orders default to status=open
LIST_PARAMS: dict[str, dict[str, str]] = {"orders": {"status": "any"}}


def _base(call: ApiCall) -> str:
    try:
        origin = shop_origin(call.config.get("shop"), call.allow_private)
    except ShopRefused as exc:
        raise ProviderRefused(f"Shopify: {exc}") from None
    return base_url(call.facts, {**call.config, "shop": origin})


def _token(call: ApiCall) -> str:
    token = str(call.secrets.get("access_token") or call.secrets.get(ACCESS_TOKEN) or "")
    if not token:
        raise ProviderRefused(
            "Shopify: the connector has no Admin API access token: install the app "
            "(GET /v1/connectors/{id}/oauth/authorize), or for a custom app add secrets.access_token (shpat_...)"
        )
    return token


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    status = response.status
    if 300 <= status < 400:  # not followed (_request): the token goes to the shop's own address only
        raise ProviderRefused(
            f"Shopify {what}: answered HTTP {status}, a redirect to {response.headers.get('Location', '?')[:200]}, "
            "which is not followed: set config.shop to the shop's https://<name>.myshopify.com address"
        )
    if status < 400:
        return
    errors = (await error_body(response)).get("errors")
    message = (errors if isinstance(errors, str) else json.dumps(errors) if errors else "")[:300]
    detail = f"HTTP {status}{f': {message}' if message else ''}"
    raise_if_busy(response, call, "Shopify", what, detail)
    if status == 401:
        raise ProviderRefused(
            f"Shopify {what}: the access token was refused ({detail}): reinstall the app, or for a custom app copy "
            "its Admin API access token (shpat_...) into secrets.access_token"
        )
    if status == 403:
        raise ProviderRefused(
            f"Shopify {what}: the token lacks a scope ({detail}): grant read_orders, read_products, read_customers "
            "(and write_orders for tags), then reinstall the app"
        )
    if status in (402, 423):
        raise ProviderRefused(f"Shopify {what}: the shop is frozen or locked ({detail}): it must be reactivated")
    if status == 404:
        raise ProviderRefused(f"Shopify {what}: not found ({detail}): check config.shop (https://<name>.myshopify.com)")
    raise ProviderRefused(f"Shopify {what}: Shopify refused the request ({detail})")


def _request(call: ApiCall, method: str, url: str, **kwargs: Any) -> ResponseContext:
    headers = {TOKEN_HEADER: _token(call), "Accept": "application/json"}
    # no redirect followed: aiohttp drops Authorization on a hop to another host but keeps a custom header such as
    # X-Shopify-Access-Token, and the Admin API answers its calls where they were sent
    return api_request(call, method, url, headers, **kwargs)


def _zoned(value: str) -> str:
    """A sync window bound (UTC without an offset) as Shopify reads it: with `Z`."""
    return value if value.endswith("Z") or "+" in value[10:] or value[10:].count("-") else value + "Z"


def _next_page_info(response: aiohttp.ClientResponse) -> str | None:
    link = response.links.get("next")
    url = link.get("url") if link else None
    return url.query.get("page_info") if url is not None else None


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page of `resource` at cursor `after` (a page_info; None: the first page, which carries the window of
    `updated_at` and the resource's filters). `page` counts pages for the caller only."""
    params = {"limit": str(min(per_page or resource.page_size, MAX_LIMIT))}
    if after:
        params["page_info"] = after  # nothing else: the cursor keeps the first request's filters
    else:
        params |= LIST_PARAMS.get(resource.name, {})
        if resource.since_param and since:
            params[resource.since_param] = _zoned(since)
        if resource.since_param and until:
            params[resource.since_param.replace("_min", "_max")] = _zoned(until)
    async with _request(call, "GET", _base(call) + resource.path, params=params) as response:
        await _check(response, call, f"listing {resource.name}")
        body = await response.json(content_type=None)
        next_info = _next_page_info(response)
    key = resource.path.removesuffix(".json")
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise ProviderRefused(f"Shopify listing {resource.name}: the answer has no {key!r} list")
    objects = [o for o in body[key] if isinstance(o, dict)]
    return Page(objects=objects, next_cursor=next_info if objects else None)


async def test_connection(call: ApiCall) -> None:
    """One object of the first resource: raises ProviderRefused when the shop, the token or its scopes are wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """The object's `updated_at` (with the shop's offset; the sync compares instants)."""
    value = obj.get(resource.cursor_field or MODIFIED_FIELD)
    return str(value) if value else None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every record of these kinds from Shopify is one its lists show while it exists (an order's buyer is a
    customer, listed among customers)."""
    return True


async def update_order_tags(call: ApiCall, order_id: str, tags: list[str]) -> dict[str, Any]:
    """The `update_order_tags` action: PUT orders/{id}.json {"order": {"id", "tags": "a, b"}}; the order's tags become
    exactly `tags` (Shopify replaces the list). Repeating it is harmless. Answers the updated order."""
    if not str(order_id).isdigit() or any("," in t for t in tags):
        raise ProviderRefused("update_order_tags: order_id must be a Shopify order id, and a tag has no comma")
    body = {"order": {"id": int(order_id), "tags": ", ".join(t.strip() for t in tags)}}
    async with _request(call, "PUT", _base(call) + f"orders/{order_id}.json", json=body) as response:
        await _check(response, call, f"updating order {order_id}'s tags")
        answer = await response.json(content_type=None)
    order = answer.get("order") if isinstance(answer, dict) else None
    if not isinstance(order, dict):
        raise ProviderRefused(f"Shopify updating order {order_id}: the answer has no order")
    return order


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One subscription per topic the normalizer maps (POST webhooks.json {"webhook": {topic, address, format}}).
    Shopify signs every delivery with the app's client secret (a custom app's API secret key), so that is the
    secret kept, not `secret`. Subscriptions of the shop already delivering a topic to `delivery_url` (an earlier
    attempt's: GET webhooks.json?address=) are kept, so registering twice makes nothing new."""
    app_secret = str(call.secrets.get("client_secret") or "")
    if not app_secret:
        raise ProviderRefused(
            "Shopify signs webhooks with the app's client secret: add secrets.client_secret (a custom app's API "
            "secret key), or add the webhooks by hand and give secrets.webhook_secret"
        )
    url = _base(call) + "webhooks.json"
    params = {"address": delivery_url, "limit": str(MAX_LIMIT)}
    async with _request(call, "GET", url, params=params) as response:
        await _check(response, call, "listing webhook subscriptions")
        listed = (await response.json(content_type=None)).get("webhooks") or []
    held = {w.get("topic"): w for w in listed if isinstance(w, dict) and w.get("address") == delivery_url}
    webhooks: dict[str, str] = {}
    for topic in sorted(TOPICS):
        if topic in held:
            webhooks[topic] = str(held[topic]["id"])
            continue
        body = {"webhook": {"topic": topic, "address": delivery_url, "format": "json"}}
        async with _request(call, "POST", url, json=body) as response:
            await _check(response, call, f"subscribing to {topic}")
            webhooks[topic] = str((await response.json(content_type=None))["webhook"]["id"])
    return Registration(webhooks, app_secret)


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """DELETE webhooks/{id}.json; one already gone (404) is fine."""
    for webhook_id in webhook_ids:
        async with _request(call, "DELETE", _base(call) + f"webhooks/{webhook_id}.json") as response:
            if response.status != 404:
                await _check(response, call, f"deleting webhook subscription {webhook_id}")

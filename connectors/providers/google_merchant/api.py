"""Google Merchant Center's Merchant API (products v1), as a sync and the actions call it.

Listing: `GET {base}accounts/{account_id}/products?pageSize=n&pageToken=..` with `Authorization: Bearer`
(connectors/providers/google_common/client.py), answering `{"products": [...], "nextPageToken"}`; the resources are
`pagination = "cursor"` with the token as the position. Each product becomes one object with `id` = its id
(`{contentLanguage}~{feedLabel}~{offerId}`, the end of its `name`); the `products` resource maps it to a commerce
product, `product_statuses` to its status (mapping.py).

Action `set_availability`: `PATCH {base}accounts/{a}/productInputs/{lang}~{label}~{offerId}?dataSource=accounts/{a}/
dataSources/{config.data_source_id}&updateMask=productAttributes.availability` `{"productAttributes":
{"availability"}}` (Merchant Center reprocesses the product; its status follows within minutes).

Notifications (webhook.py): `register_webhooks` subscribes the account to PRODUCT_STATUS_CHANGE (`POST
notifications/v1/accounts/{a}/notificationsubscriptions` `{"registeredEvent", "targetAccount", "callBackUri"}`,
answering its `name` accounts/{a}/notificationsubscriptions/{id}) with our delivery URL + `?hint=<the connector's
webhook secret>` as the callBackUri. Idempotent: the account's subscriptions are listed first; one with exactly that
URI is kept, ours with another token (an earlier secret) are deleted. `unregister_webhooks` DELETEs each name.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from connectors.base import ApiCall, Page, ProviderRefused, Registration
from connectors.facts import Resource
from connectors.providers.google_common.client import api_base, digits, rooted, send
from connectors.providers.google_merchant.mapping import MAPPERS, product_id
from connectors.providers.google_merchant.webhook import EVENT, HINT_PARAM

__all__ = [
    "MAPPERS",
    "cursor_of",
    "read_page",
    "reconciles",
    "register_webhooks",
    "set_availability",
    "test_connection",
    "unregister_webhooks",
]

MAX_PAGE_SIZE = 1000
SUBSCRIPTION_NAME = re.compile(r"accounts/[0-9]+/notificationsubscriptions/[A-Za-z0-9_-]+")
NOTIFICATIONS_BASE = "https://merchantapi.googleapis.com/notifications/v1/"  # the Notifications sub-API


def _account(call: ApiCall) -> str:
    return digits(call.config.get("account_id"), "account_id")


async def list_products(call: ApiCall, page_size: int, token: str | None) -> tuple[list[dict], str | None]:
    params = {"pageSize": str(min(page_size, MAX_PAGE_SIZE))} | ({"pageToken": token} if token else {})
    url = f"{api_base(call)}accounts/{_account(call)}/products"
    answer = await send(call, "GET", url, "listing products", params=params)
    products = answer.get("products", []) if isinstance(answer, dict) else None
    if not isinstance(products, list):
        raise ProviderRefused("Google Merchant Center listing products: the answer has no `products` list")
    following = answer.get("nextPageToken")
    return [p for p in products if isinstance(p, dict) and p.get("name")], (str(following) if following else None)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The first page of the account's products (`after` None), or the page its token names."""
    products, following = await list_products(call, per_page or resource.page_size, after)
    return Page(objects=[{"id": product_id(p), **p} for p in products], next_cursor=following)


async def test_connection(call: ApiCall) -> None:
    await list_products(call, 1, None)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # a status can change without the product's dates: the sync keys states by a hash of the product


def reconciles(resource: Resource, external_id: str) -> bool:
    return True  # a product a full listing misses was deleted, and its status with it


async def set_availability(
    call: ApiCall, offer_id: str, availability: str, content_language: str = "en", feed_label: str = "US"
) -> dict[str, Any]:
    """The `set_availability` action on the product input of the connector's data source."""
    account = _account(call)
    source = digits(call.config.get("data_source_id"), "data_source_id")
    product = f"{content_language}~{feed_label}~{offer_id}"
    url = f"{api_base(call)}accounts/{account}/productInputs/{product}"
    params = {"dataSource": f"accounts/{account}/dataSources/{source}", "updateMask": "productAttributes.availability"}
    body = {"productAttributes": {"availability": availability}}
    made = await send(call, "PATCH", url, f"setting {offer_id}'s availability", params=params, json=body)
    held = (made.get("productAttributes") or made.get("attributes") or {}) if isinstance(made, dict) else {}
    if held.get("availability") != availability:
        raise ProviderRefused(f"Google Merchant Center: {offer_id}'s availability is not {availability} in the answer")
    return {"id": product, "offer_id": offer_id, "availability": availability}


def callback_uri(delivery_url: str, secret: str) -> str:
    """What Google is told to POST to: our webhook URL carrying the connector's token (webhook.py checks it)."""
    return f"{delivery_url}?{urlencode({HINT_PARAM: secret})}"


async def _subscriptions(call: ApiCall, account: str) -> list[dict[str, Any]]:
    url, found, token = f"{rooted(NOTIFICATIONS_BASE)}accounts/{account}/notificationsubscriptions", [], None
    while True:
        params = {"pageSize": "200"} | ({"pageToken": token} if token else {})
        answer = await send(call, "GET", url, "listing notification subscriptions", params=params)
        answer = answer if isinstance(answer, dict) else {}
        found += [s for s in answer.get("notificationSubscriptions") or [] if isinstance(s, dict) and s.get("name")]
        if not (token := answer.get("nextPageToken")):
            return found


async def register_webhooks(call: ApiCall, delivery_url: str, secret: str) -> Registration:
    """One PRODUCT_STATUS_CHANGE subscription of the account, calling back `delivery_url` with `secret` as its hint
    token (found made by an earlier attempt, or made now); ours with an older token are deleted."""
    account, wanted = _account(call), callback_uri(delivery_url, secret)
    ours = [
        s
        for s in await _subscriptions(call, account)
        if s.get("registeredEvent") == EVENT and str(s.get("callBackUri", "")).split("?")[0] == delivery_url
    ]
    kept = next((s for s in ours if s.get("callBackUri") == wanted), None)
    await unregister_webhooks(call, [str(s["name"]) for s in ours if s is not kept])
    if kept is None:
        url = f"{rooted(NOTIFICATIONS_BASE)}accounts/{account}/notificationsubscriptions"
        body = {"registeredEvent": EVENT, "targetAccount": f"accounts/{account}", "callBackUri": wanted}
        kept = await send(call, "POST", url, "subscribing to product status changes", json=body)
        if not isinstance(kept, dict) or not kept.get("name"):
            raise ProviderRefused("Google Merchant Center subscribing to notifications: the answer has no `name`")
    return Registration({EVENT: str(kept["name"])}, secret)


async def unregister_webhooks(call: ApiCall, webhook_ids: list[str]) -> None:
    """Delete these subscriptions (their names); one already gone counts as deleted."""
    for name in webhook_ids:
        if not SUBSCRIPTION_NAME.fullmatch(name):  # a path of the notifications API, nothing else
            raise ProviderRefused(f"Google Merchant Center: {name[:80]!r} is not a notification subscription's name")
        try:
            await send(call, "DELETE", rooted(NOTIFICATIONS_BASE) + name, "deleting a notification subscription")
        except ProviderRefused as exc:
            if "HTTP 404" not in str(exc):
                raise

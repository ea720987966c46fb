"""Google Merchant Center's Merchant API (products v1), as a sync and the actions call it.

Listing: `GET {base}accounts/{account_id}/products?pageSize=n&pageToken=..` with `Authorization: Bearer`
(connectors/providers/google_common/client.py), answering `{"products": [...], "nextPageToken"}`; the resources are
`pagination = "cursor"` with the token as the position. Each product becomes one object with `id` = its id
(`{contentLanguage}~{feedLabel}~{offerId}`, the end of its `name`); the `products` resource maps it to a commerce
product, `product_statuses` to its status (mapping.py).

Action `set_availability`: `PATCH {base}accounts/{a}/productInputs/{lang}~{label}~{offerId}?dataSource=accounts/{a}/
dataSources/{config.data_source_id}&updateMask=productAttributes.availability` `{"productAttributes":
{"availability"}}` (Merchant Center reprocesses the product; its status follows within minutes).
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource
from connectors.providers.google_common.client import api_base, digits, send
from connectors.providers.google_merchant.mapping import MAPPERS, product_id

__all__ = ["MAPPERS", "cursor_of", "read_page", "reconciles", "set_availability", "test_connection"]

MAX_PAGE_SIZE = 1000


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

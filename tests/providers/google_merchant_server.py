"""A local Google Merchant Center for tests: the Merchant API's products and product inputs in the documented shape
(developers.google.com/merchant/api: "accounts.products.list", "accounts.productInputs.patch", "Product statuses"),
on tests/providers/google_server.py's shared Google OAuth2 and errors.

- `GET /products/v1/accounts/{account}/products?pageSize=&pageToken=`: pageSize default 25, values above 1,000 taken
  as 1,000; products in name order with `name` (accounts/{a}/products/{lang}~{label}~{offerId}), `offerId`,
  `contentLanguage`, `feedLabel`, `dataSource`, `productAttributes` (title, link, price {amountMicros, currencyCode},
  availability, brand ...) and `productStatus` (destinationStatuses per reporting context with approved / pending /
  disapproved countries, itemLevelIssues, creationDate, lastUpdateDate, googleExpirationDate); `nextPageToken`
  continues after the last product answered (a deletion shifts nothing); an unknown token is 400.
- `PATCH /products/v1/accounts/{a}/productInputs/{lang}~{label}~{offerId}?dataSource=accounts/{a}/dataSources/{d}
  &updateMask=productAttributes.availability` `{"productAttributes": {...}}`: the ProductInput; the product's
  attributes change and its lastUpdateDate moves. A data source other than `data_source_id`, or a mask naming other
  fields, is 400; an unknown product 404.
- Notifications ("Receive push notifications", notifications/v1): `POST /notifications/v1/accounts/{a}/
  notificationsubscriptions` `{"registeredEvent", "targetAccount", "callBackUri"}` answers the subscription with its
  `name` (accounts/{a}/notificationsubscriptions/{id}); `GET` the same path lists them (`notificationSubscriptions`);
  `DELETE /notifications/v1/{name}` answers `{}` (404 for an unknown one). An event other than PRODUCT_STATUS_CHANGE,
  a target account other than the caller's, or a callBackUri that is no http(s) URL is 400. `notify` POSTs a
  ProductStatusChangeMessage to every subscription's callBackUri, as Google does after a status changes.
Another account is 403 PERMISSION_DENIED. Test hooks: `seed`, `disapprove`, `delete`, `notify`, GoogleApi's.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from providers.google_server import GoogleApi, google_error

BASE = "/products/v1/accounts/{account}"
SUBSCRIPTIONS = "/notifications/v1/accounts/{account}/notificationsubscriptions"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class GoogleMerchant(GoogleApi):
    account_id: str = "5432109876"
    data_source_id: str = "10001"
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # id ({lang}~{label}~{offerId}) -> product
    page_tokens: dict[str, str] = field(default_factory=dict)  # token -> the last id answered
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> notification subscription
    _next: int = 0

    def seed(self, count: int) -> list[str]:
        made = []
        for _ in range(count):
            self._next += 1
            n = self._next
            offer, key = f"SKU-{n:05d}", f"en~US~SKU-{n:05d}"
            at = _stamp(T0 + timedelta(minutes=n))
            self.products[key] = {
                "name": f"accounts/{self.account_id}/products/{key}",
                "product": f"accounts/{self.account_id}/products/{key}",
                "offerId": offer,
                "contentLanguage": "en",
                "feedLabel": "US",
                "dataSource": f"accounts/{self.account_id}/dataSources/{self.data_source_id}",
                "productAttributes": {
                    "title": f"Merino wool sweater {n}",
                    "description": "Warm and soft.",
                    "link": f"https://shop.example.com/p/{offer}",
                    "imageLink": f"https://shop.example.com/i/{offer}.jpg",
                    "price": {"amountMicros": str(49_990_000 + n * 1_000_000), "currencyCode": "USD"},
                    "availability": "IN_STOCK",
                    "condition": "NEW",
                    "brand": "Woolly",
                    "googleProductCategory": "Apparel & Accessories > Clothing",
                },
                "productStatus": {
                    "destinationStatuses": [
                        {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["US"]},
                        {"reportingContext": "FREE_LISTINGS", "approvedCountries": ["US"]},
                    ],
                    "creationDate": at,
                    "lastUpdateDate": at,
                    "googleExpirationDate": _stamp(T0 + timedelta(days=30, minutes=n)),
                },
            }
            made.append(key)
        return made

    def disapprove(self, key: str, attribute: str = "image_link") -> None:
        status = self.products[key]["productStatus"]
        status["destinationStatuses"] = [{"reportingContext": "SHOPPING_ADS", "disapprovedCountries": ["US"]}]
        status["itemLevelIssues"] = [
            {
                "code": "image_link_broken",
                "severity": "DISAPPROVED",
                "resolution": "merchant_action",
                "attribute": attribute,
                "reportingContext": "SHOPPING_ADS",
                "description": "Invalid image [image link]",
                "applicableCountries": ["US"],
            }
        ]
        status["lastUpdateDate"] = _stamp(datetime.now(UTC))

    def delete(self, key: str) -> None:
        del self.products[key]

    def ids(self) -> list[str]:
        return sorted(self.products)

    def routes(self, app: web.Application) -> None:
        app.router.add_get(BASE + "/products", self.list_products)
        app.router.add_patch(BASE + "/productInputs/{product}", self.patch_input)
        app.router.add_post(SUBSCRIPTIONS, self.subscribe)
        app.router.add_get(SUBSCRIPTIONS, self.list_subscriptions)
        app.router.add_delete(SUBSCRIPTIONS + "/{subscription}", self.unsubscribe)

    async def notify(self, key: str, new_value: str, url: str | None = None) -> list[tuple[int, str]]:
        """POST a PRODUCT_STATUS_CHANGE message about product `key` claiming the status `new_value` to every
        subscription's callBackUri (or to `url`); answers each delivery's status and body."""
        import aiohttp

        account = f"accounts/{self.account_id}"
        body = {
            "account": account,
            "managingAccount": account,
            "resourceType": "PRODUCT",
            "attribute": "STATUS",
            "changes": [
                {"oldValue": "approved", "newValue": new_value, "regionCode": "US", "reportingContext": "SHOPPING_ADS"}
            ],
            "resourceId": key,
            "resource": f"{account}/products/{key}",
            "eventTime": _stamp(datetime.now(UTC)),
            "expirationTime": _stamp(datetime.now(UTC) + timedelta(days=30)),
        }
        sent = []
        for target in [url] if url else [s["callBackUri"] for s in self.subscriptions.values()]:
            async with aiohttp.ClientSession() as http, http.post(target, json=body) as response:
                sent.append((response.status, await response.text()))
        return sent

    async def subscribe(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        if account != self.account_id:
            return google_error(403, "The caller does not have access to the account.")
        body = await request.json()
        if body.get("registeredEvent") != "PRODUCT_STATUS_CHANGE":
            return google_error(400, "registeredEvent must be PRODUCT_STATUS_CHANGE.")
        if body.get("targetAccount") != f"accounts/{account}" or body.get("allManagedAccounts"):
            return google_error(400, "targetAccount must name the account.")
        if not str(body.get("callBackUri", "")).startswith(("https://", "http://")):
            return google_error(400, "callBackUri must be an HTTPS URL.")
        name = f"accounts/{account}/notificationsubscriptions/{secrets.randbelow(10**12)}"
        made = {"name": name, **{k: body[k] for k in ("registeredEvent", "targetAccount", "callBackUri")}}
        self.subscriptions[name] = made
        return web.json_response(made)

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        if request.match_info["account"] != self.account_id:
            return google_error(403, "The caller does not have access to the account.")
        return web.json_response({"notificationSubscriptions": [copy.deepcopy(s) for s in self.subscriptions.values()]})

    async def unsubscribe(self, request: web.Request) -> web.Response:
        account, sid = request.match_info["account"], request.match_info["subscription"]
        if account != self.account_id:
            return google_error(403, "The caller does not have access to the account.")
        if self.subscriptions.pop(f"accounts/{account}/notificationsubscriptions/{sid}", None) is None:
            return google_error(404, f"Subscription {sid} was not found.")
        return web.json_response({})

    async def list_products(self, request: web.Request) -> web.Response:
        if request.match_info["account"] != self.account_id:
            return google_error(403, "The caller does not have access to the account.")
        try:
            size = min(int(request.query.get("pageSize", "25")), 1000)
        except ValueError:
            return google_error(400, "Invalid value for pageSize.")
        after = ""
        if token := request.query.get("pageToken"):
            if token not in self.page_tokens:
                return google_error(400, "The page token is invalid.")
            after = self.page_tokens[token]
        rest = [k for k in sorted(self.products) if k > after]
        chosen = rest[: max(size, 1)]
        answer: dict[str, Any] = {"products": [copy.deepcopy(self.products[k]) for k in chosen]}
        if len(rest) > len(chosen):
            token = secrets.token_urlsafe(12)
            self.page_tokens[token] = chosen[-1]
            answer["nextPageToken"] = token
        return web.json_response(answer)

    async def patch_input(self, request: web.Request) -> web.Response:
        account, key = request.match_info["account"], request.match_info["product"]
        if account != self.account_id:
            return google_error(403, "The caller does not have access to the account.")
        if request.query.get("dataSource") != f"accounts/{account}/dataSources/{self.data_source_id}":
            return google_error(400, "dataSource must name a data source of the account.")
        body = await request.json()
        mask = [m for m in request.query.get("updateMask", "").split(",") if m]
        changes = body.get("productAttributes") or {}
        if not mask or any(not m.startswith("productAttributes.") for m in mask):
            return google_error(400, "updateMask must name product attributes.")
        if key not in self.products:
            return google_error(404, f"Product input {key} was not found.")
        held = self.products[key]
        for name in mask:
            attribute = name.removeprefix("productAttributes.")
            held["productAttributes"][attribute] = changes.get(attribute)
        held["productStatus"]["lastUpdateDate"] = _stamp(datetime.now(UTC))
        answer = {
            "name": f"accounts/{account}/productInputs/{key}",
            "product": held["name"],
            "offerId": held["offerId"],
            "contentLanguage": held["contentLanguage"],
            "feedLabel": held["feedLabel"],
            "productAttributes": {
                m.removeprefix("productAttributes."): changes.get(m.removeprefix("productAttributes.")) for m in mask
            },
        }
        return web.json_response(answer)

"""A local Shopify for tests: the Admin REST API lists a sync reads, the order update the action makes, and the OAuth
token endpoint, in Shopify's documented shapes (shopify.dev: "Make paginated requests to the REST Admin API", "REST
Admin API rate limits", the Order / Product / Customer resources, "Authorization code grant").

- `X-Shopify-Access-Token: <token>`; anything else answers 401 `{"errors": "[API] Invalid API key or access token
  (unrecognized login or wrong password)"}`.
- `GET /admin/api/<version>/{orders,products,customers}.json`: `limit` (1-250, else 400), `updated_at_min` /
  `updated_at_max` (ISO 8601 with an offset; inclusive here, as Shopify documents "on or after" / "on or before"),
  orders `status` (open by default; `any` for all); ordered by id. More pages: a `Link` header
  `<...?limit=N&page_info=...>; rel="next"` (and `rel="previous"`); a `page_info` request with any other filter
  answers 400 (Shopify: "page_info - Invalid value"). Every answer carries `X-Shopify-Shop-Api-Call-Limit`.
- `PUT /admin/api/<version>/orders/{id}.json` `{"order": {"id", "tags"}}`: the order with its new tags and a new
  `updated_at`.
- Webhook subscriptions (the Webhook resource): `POST /admin/api/<version>/webhooks.json` `{"webhook": {"topic",
  "address", "format"}}` answers 201 with it (a second one of a topic to the same address: 422 "for this topic has
  already been taken"); `GET .../webhooks.json` (`address`, `topic` filters); `DELETE .../webhooks/{id}.json`.
  `deliver(topic, obj)` posts the bare resource signed base64(HMAC-SHA256(client secret, body)).
- `POST /admin/oauth/access_token` (client_id, client_secret, code): `{"access_token": "shpat_...", "scope": ...}`,
  an offline token (no expires_in, no refresh token).
- `DELETE /admin/api_permissions/current.json` with the token ("Uninstall an app"): the app is uninstalled, so its
  token stops working (401 afterwards) and its webhook subscriptions go; 200 `{}`. `uninstalls` counts them.

Objects are seeded from the Shopify webhook fixtures (tests/fixtures/webhooks/shopify/orders-create.json,
customers-create.json; products from PRODUCT below, Shopify's documented example product "IPod Nano - 8GB" cut
down, since no product payload is among the fixtures), with ids counting up and `updated_at` a minute apart.
Test hooks: `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `log`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from providers.server_support import QueuedFailures, logged_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks" / "shopify"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHOP_ZONE = timedelta(hours=-5)  # the shop's offset: Shopify's times carry it
PRODUCT = {
    "id": 632910392,
    "title": "IPod Nano - 8GB",
    "body_html": "<p>It's the small iPod with one very big idea: Video.</p>",
    "vendor": "Apple",
    "product_type": "Cult Products",
    "handle": "ipod-nano",
    "status": "active",
    "tags": "Emotive, Flash Memory, MP3, Music",
    "created_at": "2025-12-31T19:00:00-05:00",
    "updated_at": "2025-12-31T19:00:00-05:00",
    "variants": [
        {
            "id": 808950810,
            "product_id": 632910392,
            "title": "Pink",
            "price": "199.00",
            "sku": "IPOD2008PINK",
            "inventory_quantity": 10,
        },
    ],
}
TEMPLATES = {"orders": "orders-create.json", "customers": "customers-create.json"}
RESOURCES = ("orders", "products", "customers")


def shop_time(value: datetime) -> str:
    return (value.astimezone(UTC) + SHOP_ZONE).strftime("%Y-%m-%dT%H:%M:%S") + "-05:00"


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(status: int, errors: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"errors": errors}, status=status, headers=headers)


@dataclass
class ShopifyShop(QueuedFailures):
    access_token: str = "shpat_local_test_token"
    client_id: str = "local-client-id"
    client_secret: str = "local-client-secret"
    objects: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)  # authorization codes the token endpoint accepts
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> subscription
    url: str = ""
    calls: int = 0
    uninstalls: int = 0
    _seq: int = 0

    def seed(self, orders: int = 0, products: int = 0, customers: int = 0, start: datetime = T0) -> None:
        """Copies of the fixtures' objects with new ids, `updated_at` a minute apart from `start`."""
        for resource, count in (("orders", orders), ("products", products), ("customers", customers)):
            template = PRODUCT if resource == "products" else json.loads((FIXTURES / TEMPLATES[resource]).read_text())
            for _ in range(count):
                self._seq += 1
                obj = copy.deepcopy(template)
                obj["id"] = 1_000_000 + self._seq
                obj["updated_at"] = shop_time(start + timedelta(minutes=len(self.objects[resource])))
                if resource == "orders":
                    obj["name"], obj["order_number"] = f"#{1000 + self._seq}", 1000 + self._seq
                    obj["customer"] = {**obj["customer"], "id": 2_000_000 + self._seq}
                if resource == "customers":
                    obj["email"] = f"customer{self._seq}@example.com"
                self.objects[resource][obj["id"]] = obj

    def ids(self, resource: str) -> list[int]:
        return sorted(self.objects[resource])

    def change(self, resource: str, object_id: int, when: datetime | None = None, **values: Any) -> dict[str, Any]:
        obj = self.objects[resource][object_id]
        obj.update(values, updated_at=shop_time(when or datetime.now(UTC)))
        return obj

    def delete(self, resource: str, object_id: int) -> None:
        del self.objects[resource][object_id]

    def app(self) -> web.Application:
        app = logged_app(self.log)
        app.router.add_get("/admin/api/{version}/webhooks.json", self.list_webhooks)
        app.router.add_post("/admin/api/{version}/webhooks.json", self.create_webhook)
        app.router.add_delete("/admin/api/{version}/webhooks/{id}.json", self.delete_webhook)
        app.router.add_get("/admin/api/{version}/{resource}.json", self.list_objects)
        app.router.add_put("/admin/api/{version}/orders/{id}.json", self.update_order)
        app.router.add_post("/admin/oauth/access_token", self.access_token_grant)
        app.router.add_delete("/admin/api_permissions/current.json", self.uninstall)
        return app

    def _limit_header(self) -> dict[str, str]:
        self.calls += 1
        return {"X-Shopify-Shop-Api-Call-Limit": f"{min(self.calls, 40)}/40"}

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self.access_token or request.headers.get("X-Shopify-Access-Token") != self.access_token:
            return _error(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": f"{retry_after:.1f}"} if retry_after is not None else {}
            return _error(
                status,
                "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
                if status == 429
                else "Internal Server Error",
                headers,
            )
        return None

    async def list_objects(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in RESOURCES:
            return _error(404, "Not Found")
        refused = self._refusal(request)
        if refused:
            return refused
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 250:
            return _error(400, {"limit": ["must be between 1 and 250"]})
        if "page_info" in query:
            if set(query) - {"page_info", "limit", "fields"}:
                return _error(400, {"page_info": ["Invalid value"]})  # filters ride in the cursor
            try:
                cursor = json.loads(base64.urlsafe_b64decode(query["page_info"]))
            except ValueError:
                return _error(400, {"page_info": ["Invalid value"]})
            filters, after = cursor["filters"], cursor["after"]
        else:
            filters = {k: v for k, v in query.items() if k in ("updated_at_min", "updated_at_max", "status")}
            after = 0
        chosen = [o for _, o in sorted(self.objects[resource].items()) if self._admits(resource, o, filters)]
        rest = [o for o in chosen if o["id"] > after]
        page, more = rest[:limit], len(rest) > limit
        headers = self._limit_header()
        if more:
            info = base64.urlsafe_b64encode(json.dumps({"filters": filters, "after": page[-1]["id"]}).encode())
            link = f"{self.url}{request.path}?limit={limit}&page_info={info.decode()}"
            headers["Link"] = f'<{link}>; rel="next"'
        return web.json_response({resource: page}, headers=headers)

    @staticmethod
    def _admits(resource: str, obj: dict[str, Any], filters: dict[str, str]) -> bool:
        updated = parse_time(obj["updated_at"])
        if "updated_at_min" in filters and updated < parse_time(filters["updated_at_min"]):
            return False
        if "updated_at_max" in filters and updated > parse_time(filters["updated_at_max"]):
            return False
        if resource == "orders" and filters.get("status", "open") == "open":
            return not obj.get("closed_at") and not obj.get("cancelled_at")
        return True

    async def update_order(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        order = self.objects["orders"].get(int(request.match_info["id"]))
        if order is None:
            return _error(404, "Not Found")
        body = await request.json()
        given = body.get("order") if isinstance(body, dict) else None
        if not isinstance(given, dict) or "tags" not in given:
            return _error(400, {"order": "Required parameter missing or invalid"})
        self.change("orders", order["id"], tags=str(given["tags"]))
        return web.json_response({"order": order}, headers=self._limit_header())

    async def access_token_grant(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client"}, status=400)
        if form.get("code") not in self.codes:
            return web.json_response({"error": "invalid_request", "error_description": "code invalid"}, status=400)
        self.codes.discard(str(form["code"]))
        return web.json_response({"access_token": self.access_token, "scope": "read_orders,write_orders"})

    async def uninstall(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        self.uninstalls += 1
        self.access_token = ""  # no token matches any more (_refusal compares the header with it)
        self.webhooks.clear()
        return web.json_response({})

    # --- webhook subscriptions ----------------------------------------------------------------------------------

    async def list_webhooks(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        q = request.query
        found = [
            w
            for _, w in sorted(self.webhooks.items())
            if q.get("address", w["address"]) == w["address"] and q.get("topic", w["topic"]) == w["topic"]
        ]
        return web.json_response({"webhooks": found}, headers=self._limit_header())

    async def create_webhook(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        given = (await request.json()).get("webhook") or {}
        if not given.get("topic") or not given.get("address"):
            return _error(422, {"topic": ["can't be blank"], "address": ["can't be blank"]})
        if any(w["topic"] == given["topic"] and w["address"] == given["address"] for w in self.webhooks.values()):
            return _error(422, {"address": ["for this topic has already been taken"]})
        self._seq += 1
        now = shop_time(datetime.now(UTC))
        webhook = {
            "id": 4_000_000 + self._seq,
            "address": given["address"],
            "topic": given["topic"],
            "format": given.get("format", "json"),
            "created_at": now,
            "updated_at": now,
            "fields": [],
            "metafield_namespaces": [],
            "api_version": request.match_info["version"],
        }
        self.webhooks[webhook["id"]] = webhook
        return web.json_response({"webhook": webhook}, status=201, headers=self._limit_header())

    async def delete_webhook(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        if self.webhooks.pop(int(request.match_info["id"]), None) is None:
            return _error(404, "Not Found")
        return web.json_response({}, headers=self._limit_header())

    async def deliver(self, topic: str, obj: dict[str, Any]) -> list[int]:
        """Post `obj` to every subscription of `topic`, as Shopify does; answers their statuses."""
        body = json.dumps(obj).encode()
        signature = base64.b64encode(hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()).decode()
        statuses = []
        async with aiohttp.ClientSession() as session:
            for webhook in [w for w in self.webhooks.values() if w["topic"] == topic]:
                headers = {
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Hmac-Sha256": signature,
                    "X-Shopify-Shop-Domain": "local-shop.myshopify.com",
                    "X-Shopify-API-Version": webhook["api_version"],
                    "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                }
                async with session.post(webhook["address"], data=body, headers=headers) as response:
                    statuses.append(response.status)
        return statuses

"""A local WooCommerce for tests: the REST API v3 list and update endpoints the sync and the actions use, in the
documented shape (woocommerce/woocommerce-rest-api-docs, source/includes/wp-api-v3/_introduction.md "Pagination" and
"Authentication", _orders.md/_products.md/_customers.md "List all ..." parameters).

- HTTP basic auth with consumer_key:consumer_secret; anything else answers 401 `woocommerce_rest_cannot_view`.
- `GET /wp-json/wc/v3/{orders,products,customers}`: `page`, `per_page` (1-100, else 400 `rest_invalid_param`),
  `modified_after`/`modified_before` (ISO 8601; with `dates_are_gmt=true` compared with `date_modified_gmt`;
  strict, as WordPress's date_query is), `orderby` (id, date, modified) and `order` (asc, desc); answers
  `X-WP-Total` and `X-WP-TotalPages`. Customers take no modified_* filter (the docs list none).
- `PUT /wp-json/wc/v3/products/{id}` with a JSON body (`stock_quantity`) updates and answers the product.
- Webhooks (_webhooks.md): `POST /wp-json/wc/v3/webhooks` {name, topic, delivery_url, secret, status} answers 201
  with the webhook (its `secret` is write-only: never answered); `GET` lists them (paged like the other lists);
  `PUT .../webhooks/{id}` changes one; `DELETE .../webhooks/{id}?force=true` deletes it (without `force`: 501
  `woocommerce_rest_trash_not_supported`). `deliver(topic, obj)` sends a delivery as the store would: the object as
  the body, signed base64(HMAC-SHA256(secret, body)) with the webhook's secret, to its delivery URL.

Objects are seeded from tests/fixtures/webhooks/woocommerce/*.json with varied ids, numbers, emails and
date_modified_gmt. Test hooks: `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `delay_s`, `log`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from providers.server_support import (
    QueuedFailures,
    TimedLog,
    TimedRequest,
    basic_credentials,
    logged_app,
    timed_request,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks" / "woocommerce"
RESOURCES = ("orders", "products", "customers")
SINCE_FILTERS = {"orders", "products"}  # the customers list has no modified_after
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def gmt(value: datetime) -> str:
    """WooCommerce's *_gmt format: ISO 8601 in UTC without an offset, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status}}, status=status, headers=headers
    )


@dataclass
class WooCommerceStore(QueuedFailures, TimedLog):
    consumer_key: str = "ck_test_0123456789"
    consumer_secret: str = "cs_test_0123456789"
    objects: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    log: list[TimedRequest] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)  # (status, retry-after s) of next ones
    fail_after: int = 0  # successful list requests to answer before the queued failures apply
    delay_s: float = 0.0  # every list request answers this much later (a slow store)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> the webhook, its secret included
    read_only: bool = False  # the key has Read permission only: writes answer 401
    url: str = ""

    # --- seeding and test hooks -------------------------------------------------------------------------------

    def seed(self, orders: int = 0, products: int = 0, customers: int = 0, start: datetime = T0) -> None:
        templates = {
            "orders": json.loads((FIXTURES / "order.created.json").read_text()),
            "products": json.loads((FIXTURES / "product.updated.json").read_text()),
            "customers": json.loads((FIXTURES / "customer.created.json").read_text()),
        }
        for resource, count in (("orders", orders), ("products", products), ("customers", customers)):
            base = {"orders": 1000, "products": 2000, "customers": 3000}[resource]
            for i in range(count):
                obj = copy.deepcopy(templates[resource])
                obj["id"] = base + len(self.objects[resource]) + 1
                modified = start + timedelta(minutes=len(self.objects[resource]))
                obj["date_modified_gmt"] = gmt(modified)
                obj["date_modified"] = gmt(modified)
                if resource == "orders":
                    obj["number"] = str(obj["id"])
                    obj["billing"]["email"] = f"buyer{i}@example.com"
                    obj["customer_id"] = 0  # a guest checkout
                elif resource == "customers":
                    obj["email"] = f"customer{obj['id']}@example.com"
                    obj["username"] = f"customer{obj['id']}"
                else:
                    obj["sku"] = f"SKU-{obj['id']}"
                    obj["stock_quantity"] = 10
                    obj["manage_stock"] = True
                self.objects[resource][obj["id"]] = obj

    def ids(self, resource: str) -> list[int]:
        return sorted(self.objects[resource])

    def change(self, resource: str, object_id: int, when: datetime | None = None, **values: Any) -> dict[str, Any]:
        """Change an object as the shop would: the values given, and date_modified_gmt (now unless `when`)."""
        obj = self.objects[resource][object_id]
        obj.update(values)
        obj["date_modified_gmt"] = obj["date_modified"] = gmt(when or datetime.now(UTC))
        return obj

    def delete(self, resource: str, object_id: int) -> None:
        del self.objects[resource][object_id]

    def fail_next(self, count: int, status: int = 503, retry_after_s: float | None = None, after: int = 0) -> None:
        """Answer the next `count` list requests (after `after` successful ones) with `status`."""
        super().fail_next(count, status, retry_after_s)
        self.fail_after = after

    # --- the REST API -------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return basic_credentials(request) == (self.consumer_key, self.consumer_secret)

    def app(self) -> web.Application:
        app = logged_app(self.log, entry=timed_request, log_raised=True)
        app.router.add_get("/wp-json/wc/v3/{resource}", self.list_objects)
        app.router.add_put("/wp-json/wc/v3/products/{id}", self.update_product)
        app.router.add_post("/wp-json/wc/v3/webhooks", self.create_webhook)
        app.router.add_put("/wp-json/wc/v3/webhooks/{id}", self.update_webhook)
        app.router.add_delete("/wp-json/wc/v3/webhooks/{id}", self.delete_webhook)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        return None

    async def list_objects(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource == "webhooks":
            return await self.list_webhooks(request)
        if resource not in RESOURCES:
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        refused = self._refusal(request)
        if refused:
            return refused
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures and self.fail_after <= 0:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return _error(
                status, "too_many_requests" if status == 429 else "service_unavailable", "Try later.", headers
            )
        self.fail_after -= 1
        q = request.query
        try:
            page = int(q.get("page", "1"))
            per_page = int(q.get("per_page", "10"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
        if not 1 <= per_page <= 100 or page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        found = list(self.objects[resource].values())
        if resource in SINCE_FILTERS:
            gmt_dates = q.get("dates_are_gmt") == "true"
            for name, keep in (("modified_after", lambda t, b: t > b), ("modified_before", lambda t, b: t < b)):
                if name in q:
                    bound = parse_time(q[name])
                    field_name = "date_modified_gmt" if gmt_dates else "date_modified"
                    found = [o for o in found if keep(parse_time(o[field_name]), bound)]
        orderby = q.get("orderby", "date" if resource != "customers" else "name")
        key = {
            "id": lambda o: o["id"],
            "date": lambda o: (o.get("date_created_gmt") or "", o["id"]),
            "modified": lambda o: (o["date_modified_gmt"], o["id"]),
            "name": lambda o: (o.get("last_name") or "", o["id"]),
        }.get(orderby)
        if key is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        found.sort(key=key, reverse=q.get("order", "desc") == "desc")
        total = len(found)
        pages = (total + per_page - 1) // per_page
        body = found[(page - 1) * per_page : page * per_page]
        return web.json_response(body, headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    async def update_product(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        product_id = int(request.match_info["id"])
        if product_id not in self.objects["products"]:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        values = await request.json()
        return web.json_response(self.change("products", product_id, **values))

    # --- webhooks -----------------------------------------------------------------------------------------------

    def _write_refusal(self, request: web.Request) -> web.Response | None:
        if self.read_only and self._authorized(request):
            return _error(401, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
        return self._refusal(request)

    @staticmethod
    def _shown(webhook: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in webhook.items() if k != "secret"}  # write-only

    async def list_webhooks(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        page, per_page = int(request.query.get("page", "1")), int(request.query.get("per_page", "10"))
        found = [self._shown(w) for _, w in sorted(self.webhooks.items())]
        pages = (len(found) + per_page - 1) // per_page
        body = found[(page - 1) * per_page : page * per_page]
        return web.json_response(body, headers={"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)})

    async def create_webhook(self, request: web.Request) -> web.Response:
        refused = self._write_refusal(request)
        if refused:
            return refused
        values = await request.json()
        resource, _, event = str(values.get("topic", "")).partition(".")
        if resource not in ("order", "product", "customer", "coupon") or not event or not values.get("delivery_url"):
            return _error(400, "rest_missing_callback_param", "Missing or invalid parameter(s): topic, delivery_url")
        webhook_id = 100 + len(self.webhooks) + 1
        now = gmt(datetime.now(UTC))
        self.webhooks[webhook_id] = {
            "id": webhook_id,
            "name": values.get("name", ""),
            "status": values.get("status", "active"),
            "topic": values["topic"],
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{event}_{resource}"],
            "delivery_url": values["delivery_url"],
            "secret": values.get("secret", ""),
            "date_created_gmt": now,
            "date_modified_gmt": now,
        }
        return web.json_response(self._shown(self.webhooks[webhook_id]), status=201)

    async def update_webhook(self, request: web.Request) -> web.Response:
        refused = self._write_refusal(request)
        if refused:
            return refused
        webhook = self.webhooks.get(int(request.match_info["id"]))
        if webhook is None:
            return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        webhook.update({k: v for k, v in (await request.json()).items() if k in ("name", "status", "secret")})
        return web.json_response(self._shown(webhook))

    async def delete_webhook(self, request: web.Request) -> web.Response:
        refused = self._write_refusal(request)
        if refused:
            return refused
        if request.query.get("force") != "true":
            return _error(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        webhook = self.webhooks.pop(int(request.match_info["id"]), None)
        if webhook is None:
            return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return web.json_response(self._shown(webhook))

    async def deliver(self, topic: str, obj: dict[str, Any]) -> list[int]:
        """Send `obj` to every active webhook of `topic`, as WC_Webhook::deliver does; answers their HTTP statuses."""
        statuses = []
        body = json.dumps(obj).encode()
        async with aiohttp.ClientSession() as session:
            for webhook in [w for w in self.webhooks.values() if w["topic"] == topic and w["status"] == "active"]:
                signature = base64.b64encode(hmac.new(webhook["secret"].encode(), body, hashlib.sha256).digest())
                headers = {
                    "Content-Type": "application/json",
                    "X-WC-Webhook-Source": self.url + "/",
                    "X-WC-Webhook-Topic": topic,
                    "X-WC-Webhook-Resource": webhook["resource"],
                    "X-WC-Webhook-Event": webhook["event"],
                    "X-WC-Webhook-Signature": signature.decode(),
                    "X-WC-Webhook-ID": str(webhook["id"]),
                    "X-WC-Webhook-Delivery-ID": hashlib.md5(body + str(webhook["id"]).encode()).hexdigest(),
                }
                async with session.post(webhook["delivery_url"], data=body, headers=headers) as response:
                    statuses.append(response.status)
        return statuses

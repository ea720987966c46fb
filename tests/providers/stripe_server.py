"""A local Stripe for tests: the list endpoints a sync reads and the refund the action creates, in Stripe's
documented shapes (docs.stripe.com/api: "Authentication", "Pagination", "Errors", "List all customers /
subscriptions / invoices / PaymentIntents", "Create a refund").

- `Authorization: Bearer <secret key>`; anything else answers 401 `{"error": {"type": "invalid_request_error",
  "message": "Invalid API Key provided: ..."}}`.
- `GET /v1/{customers,subscriptions,invoices,payment_intents}`: `limit` (1-100, else 400 with `param`),
  `starting_after` (an id of that list; an unknown one answers 404 `resource_missing` with `param:
  starting_after`: Stripe's error shape, the status an assumption, the docs do not show this case), newest first
  (`created` descending, then the id); answers `{"object": "list", "data": [...], "has_more": bool, "url":
  "/v1/..."}`. Subscriptions: canceled ones only with `status=all` (or `canceled`).
- `POST /v1/refunds` (form-encoded `payment_intent`, `amount`, `reason`; `Idempotency-Key` header honoured):
  a `refund` object; refunding more than is left answers 400 `charge_already_refunded`.
- Webhook endpoints ("Create / List all / Delete a webhook endpoint"): `POST /v1/webhook_endpoints` (form-encoded
  `url`, `enabled_events[i]`, `description`) answers the `webhook_endpoint` with its signing `secret` (whsec_...),
  which only this answer shows; `GET` lists them (without it); `DELETE .../{id}` answers `{"id", "object",
  "deleted": true}`. `deliver(type, obj)` sends an event as Stripe does: `Stripe-Signature: t=<unix>,v1=<hex
  HMAC-SHA256 of "<t>.<body>">` keyed with each enabled endpoint's secret.

Objects are seeded from the Stripe webhook fixtures (tests/fixtures/webhooks/stripe/*.json, their data.object),
with varied ids and `created`. Test hooks: `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `log`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from providers.server_support import QueuedFailures, logged_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks" / "stripe"
TEMPLATES = {
    "customers": ("customer.created.json", "cus"),
    "subscriptions": ("customer.subscription.updated.json", "sub"),
    "invoices": ("invoice.created.json", "in"),
    "payment_intents": ("payment_intent.succeeded.json", "pi"),
}
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def _error(status: int, message: str, code: str = "", param: str = "", headers: dict | None = None) -> web.Response:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return web.json_response({"error": error}, status=status, headers=headers)


@dataclass
class StripeAccount(QueuedFailures):
    secret_key: str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"  # the key Stripe's docs show in examples
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in TEMPLATES})
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> refund id
    webhook_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> endpoint, secret included
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    fail_after: int = 0
    url: str = ""
    _seq: int = 0

    def seed(self, **counts: int) -> None:
        """`customers=3, invoices=2 ...`: copies of the fixtures' objects, one second apart in `created`."""
        for resource, count in counts.items():
            name, prefix = TEMPLATES[resource]
            template = json.loads((FIXTURES / name).read_text())["data"]["object"]
            for _ in range(count):
                self._seq += 1
                obj = copy.deepcopy(template)
                obj["id"] = f"{prefix}_{self._seq:014d}"
                obj["created"] = T0 + self._seq
                if resource == "customers":
                    obj["email"], obj["name"] = f"customer{self._seq}@example.com", f"Customer {self._seq}"
                if resource == "payment_intents":
                    obj["amount_refunded"] = 0  # kept here: Stripe keeps it on the charge
                self.objects[resource][obj["id"]] = obj

    def ids(self, resource: str) -> list[str]:
        return list(self.objects[resource])

    def change(self, resource: str, object_id: str, **values: Any) -> dict[str, Any]:
        self.objects[resource][object_id].update(values)
        return self.objects[resource][object_id]

    def delete(self, resource: str, object_id: str) -> None:
        del self.objects[resource][object_id]

    def fail_next(self, count: int, status: int = 503, retry_after_s: float | None = None, after: int = 0) -> None:
        super().fail_next(count, status, retry_after_s)
        self.fail_after = after

    def app(self) -> web.Application:
        app = logged_app(self.log)
        app.router.add_get("/v1/webhook_endpoints", self.list_endpoints)
        app.router.add_post("/v1/webhook_endpoints", self.create_endpoint)
        app.router.add_delete("/v1/webhook_endpoints/{id}", self.delete_endpoint)
        app.router.add_get("/v1/{resource}", self.list_objects)
        app.router.add_post("/v1/refunds", self.create_refund)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            return _error(401, "Invalid API Key provided: sk_test_****")
        return None

    async def list_objects(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in TEMPLATES:
            return _error(404, f"Unrecognized request URL (GET: /v1/{resource}).")
        refused = self._refusal(request)
        if refused:
            return refused
        if self.failures and self.fail_after <= 0:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            message = "Too many requests" if status == 429 else "An error occurred with our connection to Stripe."
            return web.json_response(
                {"error": {"type": "api_error", "message": message}}, status=status, headers=headers
            )
        self.fail_after -= 1
        q = request.query
        try:
            limit = int(q.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _error(400, "Invalid integer: limit must be between 1 and 100", "parameter_invalid_integer", "limit")
        found = list(self.objects[resource].values())
        if resource == "subscriptions":
            status = q.get("status")
            if status not in ("all", "canceled"):
                found = [o for o in found if o.get("status") != "canceled" and (not status or o["status"] == status)]
            elif status == "canceled":
                found = [o for o in found if o.get("status") == "canceled"]
        found.sort(key=lambda o: (o["created"], o["id"]), reverse=True)
        after = q.get("starting_after")
        if after:
            positions = [i for i, o in enumerate(found) if o["id"] == after]
            if not positions:
                return _error(404, f"No such object: '{after}'", "resource_missing", "starting_after")
            found = found[positions[0] + 1 :]
        data = found[:limit]
        return web.json_response(
            {"object": "list", "data": data, "has_more": len(found) > limit, "url": f"/v1/{resource}"}
        )

    async def create_refund(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotent:
            return web.json_response(self.refunds[self.idempotent[key]])
        form = await request.post()
        pi = self.objects["payment_intents"].get(str(form.get("payment_intent", "")))
        if pi is None:
            return _error(404, "No such payment_intent", "resource_missing", "payment_intent")
        left = int(pi["amount_received"] or pi["amount"]) - pi["amount_refunded"]
        amount = int(form.get("amount") or left)
        if amount > left or amount < 1:
            return _error(400, "Charge has already been refunded.", "charge_already_refunded")
        self._seq += 1
        refund = {
            "id": f"re_{self._seq:014d}",
            "object": "refund",
            "amount": amount,
            "currency": pi["currency"],
            "payment_intent": pi["id"],
            "reason": form.get("reason"),
            "status": "succeeded",
            "created": T0 + self._seq,
        }
        self.refunds[refund["id"]] = refund
        if key:
            self.idempotent[key] = refund["id"]
        pi["amount_refunded"] += amount
        return web.json_response(refund)

    # --- webhook endpoints --------------------------------------------------------------------------------------

    async def list_endpoints(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        found = sorted(self.webhook_endpoints.values(), key=lambda e: e["created"], reverse=True)
        after = request.query.get("starting_after")
        if after:
            found = found[[e["id"] for e in found].index(after) + 1 :] if after in self.webhook_endpoints else []
        limit = int(request.query.get("limit", "10"))
        data = [{k: v for k, v in e.items() if k != "secret"} for e in found[:limit]]
        return web.json_response(
            {"object": "list", "data": data, "has_more": len(found) > limit, "url": "/v1/webhook_endpoints"}
        )

    async def create_endpoint(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        form = await request.post()
        events = [str(v) for k, v in sorted(form.items()) if k.startswith("enabled_events[")]
        if not form.get("url"):
            return _error(400, "Missing required param: url.", "parameter_missing", "url")
        if not events:
            return _error(400, "Missing required param: enabled_events.", "parameter_missing", "enabled_events")
        self._seq += 1
        endpoint = {
            "id": f"we_{self._seq:014d}",
            "object": "webhook_endpoint",
            "url": str(form["url"]),
            "enabled_events": events,
            "description": form.get("description"),
            "status": "enabled",
            "livemode": False,
            "created": T0 + self._seq,
            "secret": "whsec_" + secrets.token_hex(16),
        }
        self.webhook_endpoints[endpoint["id"]] = endpoint
        return web.json_response(endpoint)

    async def delete_endpoint(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        endpoint_id = request.match_info["id"]
        if self.webhook_endpoints.pop(endpoint_id, None) is None:
            return _error(404, f"No such webhook endpoint: '{endpoint_id}'", "resource_missing", "id")
        return web.json_response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})

    async def deliver(self, event_type: str, obj: dict[str, Any]) -> list[int]:
        """Send an event of `obj` to every enabled endpoint that takes `event_type`; answers their statuses."""
        self._seq += 1
        event = {"id": f"evt_{self._seq:014d}", "object": "event", "type": event_type, "created": int(time.time())}
        body = json.dumps({**event, "data": {"object": obj}}).encode()
        statuses = []
        async with aiohttp.ClientSession() as session:
            for endpoint in self.webhook_endpoints.values():
                if endpoint["status"] != "enabled" or not {event_type, "*"} & set(endpoint["enabled_events"]):
                    continue
                t = int(time.time())
                mac = hmac.new(endpoint["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
                headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={mac}"}
                async with session.post(endpoint["url"], data=body, headers=headers) as response:
                    statuses.append(response.status)
        return statuses

"""A local Lago for tests: the list endpoints a sync reads and the usage events the action records, in Lago's
documented shapes (getlago.com/docs "API reference"; getlago/lago-openapi: the list endpoints, PaginationMeta,
POST /api/v1/events).

- `Authorization: Bearer <api key>`; anything else answers 401 `{"status": 401, "error": "Unauthorized"}`.
- `GET /api/v1/{customers,subscriptions,invoices}`: `page` (from 1), `per_page` (default 20, at most 100 here),
  ordered by creation; answers `{"<resource>": [...], "meta": {"current_page", "next_page", "prev_page",
  "total_pages", "total_count"}}`. Subscriptions: `status[]` filters (default active only, as Lago's list).
- `POST /api/v1/events` `{"event": {transaction_id, external_subscription_id, code, properties, timestamp}}`: the
  event with its `lago_id`; a transaction id seen before answers 422 `validation_errors` with
  `error_details: {"transaction_id": ["value_already_exist"]}` (lago-api's answer for a duplicate), and `GET
  /api/v1/events/{transaction_id}` answers the recorded event.

Objects are seeded from the Lago webhook fixtures (tests/fixtures/webhooks/lago/*.json, the object under its
object_type) with new lago_ids. Test hooks: `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `log`.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from providers.server_support import QueuedFailures, logged_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks" / "lago"
TEMPLATES = {
    "customers": ("customer.created.json", "customer"),
    "subscriptions": ("subscription.started.json", "subscription"),
    "invoices": ("invoice.created.json", "invoice"),
}


def _error(status: int, error: str, code: str = "", details: Any = None, headers: dict | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "error": error}
    if code:
        body["code"] = code
    if details is not None:
        body["error_details"] = details
    return web.json_response(body, status=status, headers=headers)


def _query_items_line(request: web.Request, status: int) -> tuple[str, str, list[tuple[str, str]], int]:
    """A log line keeping every query value: Lago's filters repeat a key (`status[]`)."""
    return (request.method, request.path, list(request.query.items()), status)


@dataclass
class LagoAccount(QueuedFailures):
    api_key: str = "lago_local_api_key"
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in TEMPLATES})
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # transaction_id -> event
    log: list[tuple[str, str, list[tuple[str, str]], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _seq: int = 0

    def seed(self, **counts: int) -> None:
        """`customers=3, invoices=2 ...`: copies of the fixtures' objects with new lago_ids."""
        for resource, count in counts.items():
            name, object_type = TEMPLATES[resource]
            template = json.loads((FIXTURES / name).read_text())[object_type]
            for _ in range(count):
                self._seq += 1
                obj = copy.deepcopy(template)
                obj["lago_id"] = str(uuid.UUID(int=self._seq))
                obj["external_id"] = f"ext-{resource}-{self._seq}"
                if resource == "customers":
                    obj["email"], obj["sequential_id"] = f"customer{self._seq}@example.com", self._seq
                self.objects[resource][obj["lago_id"]] = obj

    def ids(self, resource: str, statuses: tuple[str, ...] | None = None) -> list[str]:
        return [i for i, o in self.objects[resource].items() if statuses is None or o.get("status") in statuses]

    def change(self, resource: str, lago_id: str, **values: Any) -> dict[str, Any]:
        self.objects[resource][lago_id].update(values)
        return self.objects[resource][lago_id]

    def delete(self, resource: str, lago_id: str) -> None:
        del self.objects[resource][lago_id]

    def app(self) -> web.Application:
        app = logged_app(self.log, entry=_query_items_line)
        app.router.add_get("/api/v1/events/{transaction_id}", self.get_event)
        app.router.add_get("/api/v1/{resource}", self.list_objects)
        app.router.add_post("/api/v1/events", self.create_event)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Unauthorized")
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return _error(status, "Too Many Requests" if status == 429 else "Internal Server Error", headers=headers)
        return None

    async def list_objects(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in TEMPLATES:
            return _error(404, "Not Found", "resource_not_found")
        refused = self._refusal(request)
        if refused:
            return refused
        try:
            page, per_page = int(request.query.get("page", "1")), int(request.query.get("per_page", "20"))
        except ValueError:
            return _error(422, "Unprocessable Entity", "validation_errors", {"page": ["invalid_value"]})
        per_page = max(1, min(per_page, 100))
        listed = list(self.objects[resource].values())
        if resource == "subscriptions":
            statuses = request.query.getall("status[]", []) or ["active"]
            listed = [o for o in listed if o.get("status") in statuses]
        total_pages = max(1, -(-len(listed) // per_page))
        chosen = listed[(page - 1) * per_page : page * per_page]
        meta = {
            "current_page": page,
            "next_page": page + 1 if page < total_pages else None,
            "prev_page": page - 1 if page > 1 else None,
            "total_pages": total_pages,
            "total_count": len(listed),
        }
        return web.json_response({resource: chosen, "meta": meta})

    async def create_event(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        body = await request.json()
        event = body.get("event") if isinstance(body, dict) else None
        missing = [k for k in ("transaction_id", "code") if not (isinstance(event, dict) and event.get(k))]
        if missing:
            return _error(
                422, "Unprocessable Entity", "validation_errors", {k: ["value_is_mandatory"] for k in missing}
            )
        if event["transaction_id"] in self.events:
            details = {"transaction_id": ["value_already_exist"]}
            return _error(422, "Unprocessable Entity", "validation_errors", details)
        self._seq += 1
        recorded = {
            "lago_id": str(uuid.UUID(int=self._seq)),
            "transaction_id": event["transaction_id"],
            "external_subscription_id": event.get("external_subscription_id"),
            "code": event["code"],
            "timestamp": event.get("timestamp"),
            "properties": event.get("properties") or {},
        }
        self.events[event["transaction_id"]] = recorded
        return web.json_response({"event": recorded})

    async def get_event(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        found = self.events.get(request.match_info["transaction_id"])
        return web.json_response({"event": found}) if found else _error(404, "Not Found", "event_not_found")

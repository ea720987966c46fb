"""A local FluentCRM for tests: the REST API endpoints a sync and the add_tag action use, in the documented shape
(developers.fluentcrm.com/rest-api/: the introduction (application passwords), "Contacts > List Contacts" and
"Contacts > Sync Contact Segments"). WordPress's own error body and statuses (`{"code", "message", "data":
{"status"}}`) apply: FluentCRM's routes are WordPress REST routes.

- HTTP basic auth with a login and an application password; a wrong one answers 401 `incorrect_password`.
- `GET /wp-json/fluent-crm/v2/subscribers`: `page`, `per_page` (default 15), `sort_by` (id, email, created_at),
  `sort_type` (default DESC); answers `{"subscribers": {"total", "per_page", "current_page", "last_page", "from",
  "to", "next_page_url", "prev_page_url", "data": [...]}}`, each contact with its `tags` and `lists`.
- `POST /wp-json/fluent-crm/v2/subscribers/sync-segments` (JSON `subscribers`, `type` tags|lists, `attach`,
  `detach`, `find_by` id|slug): answers `{"message", "subscribers": [...]}`; an unknown tag is left out.
- `GET /wp-json/fluent-crm/v2/tags`: `{"tags": [...]}`.

Test hooks: `seed`, `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `log`.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BASE = "/wp-json/fluent-crm/v2"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status}}, status=status, headers=headers
    )


@dataclass
class FluentCrmSite:
    username: str = "crm_manager"
    application_password: str = "wxyz 1234 ABCD 5678 efgh IJKL"
    subscribers: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            1: {"id": 1, "title": "Customer", "slug": "customer", "description": ""},
            2: {"id": 2, "title": "Newsletter Subscriber", "slug": "newsletter-subscriber", "description": ""},
            3: {"id": 3, "title": "VIP", "slug": "vip", "description": ""},
        }
    )
    lists: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {1: {"id": 1, "title": "Newsletter", "slug": "newsletter", "is_public": "1"}}
    )
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _next_id: int = 5000

    def seed(self, subscribers: int = 0) -> None:
        for i in range(subscribers):
            self._next_id += 1
            sid = self._next_id
            self.subscribers[sid] = {
                "id": sid,
                "user_id": None,
                "hash": f"{sid:032x}",
                "contact_owner": None,
                "company_id": None,
                "prefix": "",
                "first_name": "Kelli",
                "last_name": f"Hand{sid}",
                "full_name": f"Kelli Hand{sid}",
                "email": f"contact{sid}@example.net",
                "status": ("subscribed", "pending", "unsubscribed")[i % 3],
                "contact_type": "lead",
                "address_line_1": "1 Main St",
                "address_line_2": "",
                "postal_code": "10115",
                "city": "Berlin",
                "state": "",
                "country": "DE",
                "phone": "",
                "timezone": "",
                "date_of_birth": None,
                "source": "web",
                "life_time_value": 0,
                "last_activity": None,
                "total_points": 0,
                "created_at": "2026-01-01 10:30:00",
                "updated_at": "2026-01-01 10:30:00",
                "photo": "https://www.gravatar.com/avatar/x",
                "tags": [self._ref(self.tags[1])] if i % 2 == 0 else [],
                "lists": [self._ref(self.lists[1])],
            }

    @staticmethod
    def _ref(segment: dict[str, Any]) -> dict[str, Any]:
        return {k: segment[k] for k in ("id", "title", "slug")}

    def ids(self) -> list[int]:
        return sorted(self.subscribers)

    def change(self, subscriber_id: int, **values: Any) -> dict[str, Any]:
        self.subscribers[subscriber_id].update(values)
        return self.subscribers[subscriber_id]

    def delete(self, subscriber_id: int) -> None:
        del self.subscribers[subscriber_id]

    def fail_next(self, count: int, status: int = 503, retry_after_s: float | None = None) -> None:
        self.failures.extend([(status, retry_after_s)] * count)

    # --- the REST API -------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password.replace(" ", "")) == (self.username, self.application_password.replace(" ", ""))

    def app(self) -> web.Application:
        @web.middleware
        async def logged(request: web.Request, handler):
            response = await handler(request)
            self.log.append((request.method, request.path, dict(request.query), response.status))
            return response

        async def refusals(request: web.Request, handler):
            if not self._authorized(request):
                return _error(401, "incorrect_password", "The provided password is an invalid application password.")
            if self.failures:
                status, retry_after = self.failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return _error(status, "too_many_requests" if status == 429 else "server_error", "Later.", headers)
            return await handler(request)

        app = web.Application(middlewares=[logged, web.middleware(refusals)])
        app.router.add_get(f"{BASE}/subscribers", self.list_subscribers)
        app.router.add_post(f"{BASE}/subscribers/sync-segments", self.sync_segments)
        app.router.add_get(f"{BASE}/tags", self.list_tags)
        return app

    async def list_subscribers(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            page, per_page = int(q.get("page", "1")), int(q.get("per_page", "15"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
        page, per_page = max(page, 1), max(per_page, 1)
        key = {"id": lambda s: s["id"], "email": lambda s: s["email"], "created_at": lambda s: s["created_at"]}.get(
            q.get("sort_by", "id")
        )
        if key is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): sort_by")
        found = sorted(self.subscribers.values(), key=key, reverse=q.get("sort_type", "DESC").upper() == "DESC")
        total = len(found)
        last_page = max((total + per_page - 1) // per_page, 1)
        data = [copy.deepcopy(s) for s in found[(page - 1) * per_page : page * per_page]]
        start = (page - 1) * per_page
        body = {
            "subscribers": {
                "total": total,
                "per_page": per_page,
                "current_page": page,
                "last_page": last_page,
                "next_page_url": None if page >= last_page else f"{self.url}{BASE}/subscribers?page={page + 1}",
                "prev_page_url": None if page <= 1 else f"{self.url}{BASE}/subscribers?page={page - 1}",
                "from": start + 1 if data else None,
                "to": start + len(data) if data else None,
                "data": data,
            }
        }
        return web.json_response(body)

    async def sync_segments(self, request: web.Request) -> web.Response:
        values = await request.json()
        kind = values.get("type")
        segments = {"tags": self.tags, "lists": self.lists}.get(kind)
        if segments is None or not isinstance(values.get("subscribers"), list):
            return _error(422, "invalid_data", "type must be tags or lists and subscribers a list of ids")
        by = values.get("find_by", "id")

        def resolve(refs: list) -> list[dict[str, Any]]:
            if by == "slug":
                return [s for s in segments.values() if s["slug"] in refs]
            return [segments[int(r)] for r in refs if str(r).isdigit() and int(r) in segments]

        changed = []
        for sid in values["subscribers"]:
            subscriber = self.subscribers.get(int(sid))
            if subscriber is None:
                continue
            held = {s["id"]: s for s in subscriber[kind]}
            held |= {s["id"]: self._ref(s) for s in resolve(values.get("attach") or [])}
            for s in resolve(values.get("detach") or []):
                held.pop(s["id"], None)
            subscriber[kind] = sorted(held.values(), key=lambda s: s["id"])
            changed.append(copy.deepcopy(subscriber))
        return web.json_response({"message": "Selected Tags and Lists has been updated", "subscribers": changed})

    async def list_tags(self, request: web.Request) -> web.Response:
        return web.json_response({"tags": list(self.tags.values())})

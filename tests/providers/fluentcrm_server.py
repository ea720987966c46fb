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
- `GET /wp-json/fluent-crm/v2/tags` and `/lists` ("Tags > Get All Tags", "Lists > Get All Lists"): `page`,
  `per_page`, `sort_by` (id, title), `sort_order` (default DESC), `exclude_counts` (without it each carries
  `totalCount` and `subscribersCount`); answers `{"tags": {...the same paginator..., "data": [...]}}` (`lists`), or
  with `bare_segments` the docs' example shape `{"tags": [...]}`.
- `GET /wp-json/fluent-crm/v2/campaigns` ("Campaigns > Get All Campaigns"): `page`, `per_page`, `sort_by` (id,
  title, created_at; default created_at), `sort_type` (default DESC); `{"campaigns": {...paginator..., "data"}}`.

Test hooks: `seed`, `change`, `delete`, `fail_next` (429 + Retry-After, or 503), `log`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from providers.server_support import QueuedFailures, basic_credentials, logged_app

BASE = "/wp-json/fluent-crm/v2"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status}}, status=status, headers=headers
    )


def _segment(sid: int, title: str, description: str, **extra: Any) -> dict[str, Any]:
    """A tag or a list as FluentCRM stores it (ids are numbers in its JSON; times the site's local time)."""
    slug = title.lower().replace(" ", "-")
    at = "2026-01-01 10:30:00"
    return {
        "id": sid,
        "title": title,
        "slug": slug,
        "description": description,
        **extra,
        "created_at": at,
        "updated_at": at,
    }


def _campaign(cid: int, i: int) -> dict[str, Any]:
    status = ("draft", "scheduled", "archived", "working")[i % 4]
    return {
        "id": cid,
        "parent_id": None,
        "type": "campaign",
        "title": f"Spring newsletter {i}",
        "slug": f"spring-newsletter-{i}",
        "status": status,
        "template_id": None,
        "email_subject": f"What's new this spring ({i})",
        "email_pre_header": "Three things we shipped",
        "email_body": "<p>Hello {{contact.first_name}},</p><p>Here is what we shipped.</p>",
        "recipients_count": 0 if status == "draft" else 120 + i,
        "delay": 0,
        "utm_status": 1,
        "utm_source": "fluentcrm",
        "utm_medium": "email",
        "utm_campaign": f"spring-{i}",
        "utm_term": "",
        "utm_content": "",
        "design_template": "simple",
        "scheduled_at": "2026-03-01 09:00:00" if status != "draft" else None,
        "settings": {"mailer_settings": {"from_name": "", "from_email": "", "reply_to_name": ""}},
        "created_by": 1,
        "created_at": "2026-02-01 10:00:00",
        "updated_at": "2026-02-02 10:00:00",
    }


@dataclass
class FluentCrmSite(QueuedFailures):
    username: str = "crm_manager"
    application_password: str = "wxyz 1234 ABCD 5678 efgh IJKL"
    subscribers: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            1: _segment(1, "Customer", "Paying customers"),
            2: _segment(2, "Newsletter Subscriber", ""),
            3: _segment(3, "VIP", "Top spenders"),
        }
    )
    lists: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {1: _segment(1, "Newsletter", "General newsletter list", is_public="1")}
    )
    campaigns: dict[int, dict[str, Any]] = field(default_factory=dict)
    bare_segments: bool = False  # answer tags and lists as the docs' examples show them: a bare array, no paginator
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _next_id: int = 5000

    def seed(self, subscribers: int = 0, tags: int = 0, lists: int = 0, campaigns: int = 0) -> None:
        for held, count, make in (
            (self.tags, tags, lambda n, i: _segment(n, f"Interest {n}", f"Clicked a link about topic {i}")),
            (self.lists, lists, lambda n, i: _segment(n, f"Event list {n}", "", is_public=str(i % 2))),
            (self.campaigns, campaigns, _campaign),
        ):
            for i in range(count):
                number = max(held, default=0) + 1
                held[number] = make(number, i)
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

    def held(self, resource: str) -> dict[int, dict[str, Any]]:
        return {"subscribers": self.subscribers, "tags": self.tags, "lists": self.lists, "campaigns": self.campaigns}[
            resource
        ]

    def ids(self, resource: str = "subscribers") -> list[int]:
        return sorted(self.held(resource))

    def change(self, subscriber_id: int, resource: str = "subscribers", **values: Any) -> dict[str, Any]:
        self.held(resource)[subscriber_id].update(values)
        return self.held(resource)[subscriber_id]

    def delete(self, subscriber_id: int, resource: str = "subscribers") -> None:
        del self.held(resource)[subscriber_id]

    # --- the REST API -------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        given = basic_credentials(request)  # an application password is shown in groups: spaces do not count
        return given is not None and (given[0], given[1].replace(" ", "")) == (
            self.username,
            self.application_password.replace(" ", ""),
        )

    def app(self) -> web.Application:
        async def refusals(request: web.Request, handler):
            if not self._authorized(request):
                return _error(401, "incorrect_password", "The provided password is an invalid application password.")
            if self.failures:
                status, retry_after = self.failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return _error(status, "too_many_requests" if status == 429 else "server_error", "Later.", headers)
            return await handler(request)

        app = logged_app(self.log, web.middleware(refusals))
        app.router.add_get(f"{BASE}/subscribers", self.list_subscribers)
        app.router.add_post(f"{BASE}/subscribers/sync-segments", self.sync_segments)
        app.router.add_get(f"{BASE}/tags", self.list_segments)
        app.router.add_get(f"{BASE}/lists", self.list_segments)
        app.router.add_get(f"{BASE}/campaigns", self.list_campaigns)
        return app

    def _paginated(self, request: web.Request, resource: str, found: list[dict[str, Any]], per_page_default: int):
        """Laravel's paginator, as FluentCRM answers its lists: `{resource: {total, per_page, current_page, ...}}`."""
        q = request.query
        try:
            page, per_page = int(q.get("page", "1")), int(q.get("per_page", str(per_page_default)))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
        page, per_page = max(page, 1), max(per_page, 1)
        total = len(found)
        last_page = max((total + per_page - 1) // per_page, 1)
        start = (page - 1) * per_page
        data = [copy.deepcopy(s) for s in found[start : page * per_page]]
        path = f"{self.url}{BASE}/{resource}"
        body = {
            resource: {
                "total": total,
                "per_page": per_page,
                "current_page": page,
                "last_page": last_page,
                "next_page_url": None if page >= last_page else f"{path}?page={page + 1}",
                "prev_page_url": None if page <= 1 else f"{path}?page={page - 1}",
                "from": start + 1 if data else None,
                "to": start + len(data) if data else None,
                "data": data,
            }
        }
        return web.json_response(body)

    @staticmethod
    def _sorted(request: web.Request, held, keys: dict, default: str, order_param: str):
        key = keys.get(request.query.get("sort_by", default))
        if key is None:
            return None
        return sorted(held.values(), key=key, reverse=request.query.get(order_param, "DESC").upper() == "DESC")

    async def list_subscribers(self, request: web.Request) -> web.Response:
        keys = {"id": lambda s: s["id"], "email": lambda s: s["email"], "created_at": lambda s: s["created_at"]}
        found = self._sorted(request, self.subscribers, keys, "id", "sort_type")
        if found is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): sort_by")
        return self._paginated(request, "subscribers", found, 15)

    async def list_segments(self, request: web.Request) -> web.Response:
        resource = request.path.rsplit("/", 1)[1]  # tags or lists
        keys = {"id": lambda s: s["id"], "title": lambda s: s["title"]}
        found = self._sorted(request, self.held(resource), keys, "id", "sort_order")
        if found is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): sort_by")
        if not request.query.get("exclude_counts"):
            found = [s | self._counts(resource, s["id"]) for s in found]
        if self.bare_segments:
            return web.json_response({resource: found})
        return self._paginated(request, resource, found, 10)

    def _counts(self, resource: str, sid: int) -> dict[str, int]:
        members = [s for s in self.subscribers.values() if sid in {r["id"] for r in s[resource]}]
        return {"totalCount": len(members), "subscribersCount": sum(s["status"] == "subscribed" for s in members)}

    async def list_campaigns(self, request: web.Request) -> web.Response:
        keys = {
            "id": lambda c: c["id"],
            "title": lambda c: c["title"],
            "created_at": lambda c: (c["created_at"], c["id"]),
        }
        found = self._sorted(request, self.campaigns, keys, "created_at", "sort_type")
        if found is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): sort_by")
        return self._paginated(request, "campaigns", found, 10)

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

"""A local WordPress for tests: the REST API v2 endpoints a sync and the draft action use, in the documented shape
(developer.wordpress.org/rest-api/: "Using the REST API > Pagination", "Authentication" (application passwords),
"Reference > Posts / Pages / Comments / Users", and the discovery document GET /wp-json/).

- HTTP basic auth with a login and an application password (its display spaces ignored, as WordPress does); a
  wrong one answers 401 `incorrect_password`. The discovery document /wp-json/ is public and honours `_fields`.
- `GET /wp-json/wp/v2/{posts,pages,comments,users}`: `page`, `per_page` (1-100, else 400 `rest_invalid_param`; a
  page past the last 400 `rest_post_invalid_page_number`), `orderby` (id, date, modified), `order` (default desc);
  answers `X-WP-Total` and `X-WP-TotalPages`. Posts and pages: `status` (a comma list; default `publish`; trash only
  when asked), `modified_after`/`modified_before` compared strictly with the site-LOCAL `modified`, an offset in
  the value ignored (as core's date_query does with post_modified). Comments: `status` (default `approve`; `all`
  is approved and held). `context=edit` adds the raw fields and the private ones (emails); without it they are
  left out.
- `POST /wp-json/wp/v2/posts` (JSON `title`, `content`, `excerpt`, `status`) creates a post; answers 201.

Objects are generated with ids per resource and `modified_gmt` a minute apart from T0; `modified` is the site's
local time (`gmt_offset` hours ahead). Test hooks: `change`, `delete`, `fail_next` (429 + Retry-After, or 503),
`log`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from providers.server_support import (
    QueuedFailures,
    TimedLog,
    TimedRequest,
    basic_credentials,
    logged_app,
    timed_request,
)

RESOURCES = ("posts", "pages", "comments", "users")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POST_STATUSES = ("publish", "draft", "pending", "private", "future")


def gmt(value: datetime) -> str:
    """WordPress's *_gmt format: ISO 8601 in UTC without an offset, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def wall_clock(value: str) -> datetime:
    """A date_query bound as WordPress core reads it against post_modified: its wall clock, any offset ignored."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status}}, status=status, headers=headers
    )


@dataclass
class WordPressSite(QueuedFailures, TimedLog):
    username: str = "editor"
    application_password: str = "abcd EFGH ijkl MNOP qrst UVWX"
    gmt_offset: float = 2.0
    timezone_string: str = ""  # "" : a fixed offset ("UTC+2"); a name (Europe/Berlin) means daylight saving
    objects: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    log: list[TimedRequest] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _next_id: int = 100

    # --- seeding and test hooks -------------------------------------------------------------------------------

    def _local(self, when: datetime) -> str:
        return gmt(when + timedelta(hours=self.gmt_offset))

    def _stamp(self, obj: dict[str, Any], when: datetime) -> None:
        obj["modified_gmt"], obj["modified"] = gmt(when), self._local(when)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _post(self, kind: str, status: str, when: datetime) -> dict[str, Any]:
        object_id = self._id()
        title = f"Hello &amp; welcome {object_id}"
        obj = {
            "id": object_id,
            "date": self._local(when),
            "date_gmt": gmt(when) if status != "draft" else None,
            "guid": {"rendered": f"{self.url}/?p={object_id}", "raw": f"{self.url}/?p={object_id}"},
            "slug": f"{kind}-{object_id}" if status != "draft" else "",
            "status": status,
            "type": kind,
            "link": f"{self.url}/{kind}-{object_id}/",
            "title": {"raw": f"Hello & welcome {object_id}", "rendered": title},
            "content": {
                "raw": f"<!-- wp:paragraph --><p>Body of {object_id}</p><!-- /wp:paragraph -->",
                "rendered": f"<p>Body of {object_id}</p>\n",
                "protected": False,
            },
            "excerpt": {"raw": "", "rendered": f"<p>Body of {object_id}</p>\n", "protected": False},
            "author": 1,
            "template": "",
        }
        if kind == "post":
            obj |= {"categories": [1], "tags": [], "sticky": False, "format": "standard"}
        else:
            obj |= {"parent": 0, "menu_order": 0}
        self._stamp(obj, when)
        return obj

    def seed(self, posts: int = 0, pages: int = 0, comments: int = 0, users: int = 0, start: datetime = T0) -> None:
        """Posts and pages cycle through every status (publish, draft, pending, private, future); comments are
        approved with every third held; users are editors with email."""
        for resource, count in (("posts", posts), ("pages", pages)):
            for i in range(count):
                when = start + timedelta(minutes=len(self.objects[resource]))
                obj = self._post(resource[:-1], POST_STATUSES[i % len(POST_STATUSES)], when)
                self.objects[resource][obj["id"]] = obj
        for i in range(comments):
            object_id = self._id()
            when = start + timedelta(minutes=len(self.objects["comments"]))
            self.objects["comments"][object_id] = {
                "id": object_id,
                "post": next(iter(self.objects["posts"]), 1),
                "parent": 0,
                "author": 0,
                "author_name": f"Reader {object_id}",
                "author_email": f"reader{object_id}@example.com",
                "author_url": "",
                "date": self._local(when),
                "date_gmt": gmt(when),
                "content": {"raw": f"Nice post {object_id}", "rendered": f"<p>Nice post {object_id}</p>\n"},
                "link": f"{self.url}/?p=1#comment-{object_id}",
                "status": "hold" if i % 3 == 2 else "approved",
                "type": "comment",
            }
        for _ in range(users):
            object_id = self._id()
            self.objects["users"][object_id] = {
                "id": object_id,
                "username": f"user{object_id}",
                "name": f"User {object_id}",
                "first_name": "Ada",
                "last_name": f"Writer{object_id}",
                "email": f"user{object_id}@example.com",
                "url": "",
                "description": "",
                "link": f"{self.url}/author/user{object_id}/",
                "locale": "en_US",
                "nickname": f"user{object_id}",
                "slug": f"user{object_id}",
                "roles": ["editor"],
                "registered_date": "2025-06-01T10:00:00+00:00",
            }

    def ids(self, resource: str, statuses: tuple[str, ...] | None = None) -> list[int]:
        return sorted(i for i, o in self.objects[resource].items() if statuses is None or o.get("status") in statuses)

    def change(self, resource: str, object_id: int, when: datetime | None = None, **values: Any) -> dict[str, Any]:
        obj = self.objects[resource][object_id]
        obj.update(values)
        if "modified_gmt" in obj:
            self._stamp(obj, when or datetime.now(UTC))
        return obj

    def delete(self, resource: str, object_id: int) -> None:
        del self.objects[resource][object_id]

    # --- the REST API -------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        given = basic_credentials(request)  # an application password is shown in groups: spaces do not count
        return given is not None and (given[0], given[1].replace(" ", "")) == (
            self.username,
            self.application_password.replace(" ", ""),
        )

    def app(self) -> web.Application:
        app = logged_app(self.log, entry=timed_request)
        app.router.add_get("/wp-json/", self.index)
        app.router.add_get("/wp-json/wp/v2/{resource}", self.list_objects)
        app.router.add_post("/wp-json/wp/v2/posts", self.create_post)
        return app

    async def index(self, request: web.Request) -> web.Response:
        body = {
            "name": "Local WordPress",
            "url": self.url,
            "home": self.url,
            "gmt_offset": self.gmt_offset,  # WordPress answers the option as stored: a number or a numeric string
            "timezone_string": self.timezone_string,
            "namespaces": ["oembed/1.0", "wp/v2"],
            "routes": {"/wp/v2/posts": {}},
        }
        if "_fields" in request.query:
            wanted = set(request.query["_fields"].split(","))
            body = {k: v for k, v in body.items() if k in wanted}
        return web.json_response(body)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            return _error(401, "incorrect_password", "The provided password is an invalid application password.")
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return _error(status, "too_many_requests" if status == 429 else "service_unavailable", "Later.", headers)
        return None

    @staticmethod
    def _view(obj: dict[str, Any], edit: bool) -> dict[str, Any]:
        """What `context=view` leaves out: raw fields and private ones."""
        if edit:
            return obj
        shown = copy.deepcopy(obj)
        for value in shown.values():
            if isinstance(value, dict):
                value.pop("raw", None)
        for private in ("email", "author_email", "roles", "username", "first_name", "last_name", "registered_date"):
            shown.pop(private, None)
        return shown

    async def list_objects(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in RESOURCES:
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        refused = self._refusal(request)
        if refused:
            return refused
        q = request.query
        try:
            page, per_page = int(q.get("page", "1")), int(q.get("per_page", "10"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
        if not 1 <= per_page <= 100 or page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        found = list(self.objects[resource].values())
        if resource in ("posts", "pages"):
            statuses = set(q.get("status", "publish").split(","))
            found = [o for o in found if o["status"] in statuses]
            for name, keep in (("modified_after", lambda t, b: t > b), ("modified_before", lambda t, b: t < b)):
                if name in q:
                    bound = wall_clock(q[name])
                    found = [o for o in found if keep(datetime.fromisoformat(o["modified"]), bound)]
        elif resource == "comments":
            status = q.get("status", "approve")
            wanted = {"approve": {"approved"}, "hold": {"hold"}, "all": {"approved", "hold"}}.get(status, {status})
            found = [o for o in found if o["status"] in wanted]
        key = {
            "id": lambda o: o["id"],
            "date": lambda o: (o.get("date_gmt") or o.get("date") or "", o["id"]),
            "modified": lambda o: (o.get("modified_gmt") or "", o["id"]),
        }.get(q.get("orderby", "id" if resource == "users" else "date"))
        if key is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        found.sort(key=key, reverse=q.get("order", "desc") == "desc")
        total = len(found)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            return _error(400, "rest_post_invalid_page_number", "The page number requested is larger than pages.")
        edit = q.get("context") == "edit"
        body = [self._view(o, edit) for o in found[(page - 1) * per_page : page * per_page]]
        return web.json_response(body, headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})

    async def create_post(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        values = await request.json()
        if not isinstance(values, dict) or not values.get("title"):
            return _error(400, "empty_content", "Content, title, and excerpt are empty.")
        obj = self._post("post", values.get("status", "draft"), datetime.now(UTC))
        obj["title"] = {"raw": values["title"], "rendered": values["title"]}
        for name in ("content", "excerpt"):
            if name in values:
                obj[name] = {"raw": values[name], "rendered": f"<p>{values[name]}</p>\n", "protected": False}
        self.objects["posts"][obj["id"]] = obj
        return web.json_response(self._view(obj, request.query.get("context") == "edit"), status=201)

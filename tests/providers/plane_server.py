"""A local Plane for tests: the REST API v1 endpoints a sync and the issue actions use, in the documented shape
(developers.plane.so, "API reference": Authentication, Pagination, Projects, Issues, Cycles; "Webhooks").

- Auth: `X-API-Key: <key>`; anything else answers 401 `{"detail": "Given API token is not valid"}`.
- `GET /api/v1/workspaces/{slug}/projects/`, `.../projects/{id}/issues/`, `.../projects/{id}/cycles/`: an unknown
  workspace or project is 404 `{"error": ...}`. `per_page` (default 100, at most 100) and `cursor`
  (`<per_page>:<page>:<offset>`, pages from 0; malformed: 400 `{"error": "Invalid cursor parameter."}`) answer
  `{"grouped_by", "sub_grouped_by", "total_count", "next_cursor", "prev_cursor", "next_page_results",
  "prev_page_results", "count", "total_pages", "total_results", "extra_stats", "results"}`, oldest first.
  `expand=state,assignees` answers an issue's state and assignees as objects instead of ids.
- `POST .../projects/{id}/issues/` (name required: 400 `{"name": ["This field is required."]}`) answers 201 with the
  issue; `PATCH .../projects/{id}/issues/{id}/` answers 200 with it; an unknown issue is 404.

Test hooks: `seed`, `change`, `delete`, `ids`, `fail_next` (429 with Retry-After, or 5xx), `log`, and `deliver`: a
webhook POSTed as Plane sends it (X-Plane-Delivery, X-Plane-Event, X-Plane-Signature = hex HMAC-SHA256 of the body).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from providers.server_support import QueuedFailures, logged_app

BASE = "/api/v1/workspaces/{slug}"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATES = [
    {"id": str(uuid.UUID(int=0xA1)), "name": "Backlog", "group": "backlog", "color": "#A3A3A3"},
    {"id": str(uuid.UUID(int=0xA2)), "name": "In Progress", "group": "started", "color": "#F59E0B"},
    {"id": str(uuid.UUID(int=0xA3)), "name": "Done", "group": "completed", "color": "#16A34A"},
]
MEMBERS = [{"id": str(uuid.UUID(int=0xB1)), "display_name": "ada", "first_name": "Ada", "last_name": "Lovelace"}]


def plane_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class PlaneWorkspace(QueuedFailures):
    slug: str = "acme"
    api_key: str = "plane_api_local_key_0123456789"
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    cycles: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    failures: list[tuple[int, float | None]] = field(default_factory=list)
    url: str = ""
    _seq: int = 0

    def _next(self) -> tuple[str, str]:
        self._seq += 1
        return str(uuid.UUID(int=self._seq)), plane_time(T0 + timedelta(seconds=self._seq))

    def _project(self) -> str:
        return next(reversed(self.projects)) if self.projects else self.seed(projects=1)[0]

    def seed(self, **counts: int) -> list[str]:
        """`projects=2, issues=5, cycles=1`: issues and cycles go to the newest project. Answers the new ids."""
        made: list[str] = []
        for resource, count in counts.items():
            for _ in range(count):
                made.append(self._add(resource, self._project() if resource != "projects" else ""))
        return made

    def _add(self, resource: str, project: str, **values: Any) -> str:
        object_id, now = self._next()
        n = self._seq
        common = {"id": object_id, "created_at": now, "updated_at": now, "workspace": str(uuid.UUID(int=0xC0))}
        if resource == "projects":
            obj = {**common, "name": f"Project {n}", "identifier": f"P{n}", "description": "", "network": 2}
            obj |= {"archived_at": None, "total_members": 1}
        elif resource == "issues":
            obj = {**common, "name": f"Issue {n}", "description_html": f"<p>Do <b>thing</b> {n}</p>"}
            obj |= {"description_stripped": f"Do thing {n}", "priority": "medium", "state": STATES[0]["id"]}
            obj |= {"assignees": [MEMBERS[0]["id"]], "labels": [], "project": project, "sequence_id": n}
            obj |= {"target_date": "2026-02-01", "start_date": None, "completed_at": None, "archived_at": None}
            obj |= {"parent": None}
        else:
            obj = {**common, "name": f"Sprint {n}", "description": "", "project_id": project}
            obj |= {"start_date": plane_time(T0), "end_date": plane_time(T0 + timedelta(days=14))}
            obj |= {"status": "CURRENT", "total_issues": 0, "completed_issues": 0, "archived_at": None}
        obj |= values
        getattr(self, resource)[object_id] = obj
        return object_id

    def ids(self, resource: str) -> list[str]:
        return list(getattr(self, resource))

    def change(self, resource: str, object_id: str, **values: Any) -> dict[str, Any]:
        self._seq += 1
        obj = getattr(self, resource)[object_id]
        obj.update(values, updated_at=plane_time(T0 + timedelta(seconds=self._seq)))
        return obj

    def delete(self, resource: str, object_id: str) -> None:
        del getattr(self, resource)[object_id]

    def app(self) -> web.Application:
        app = logged_app(self.log)
        app.router.add_get(BASE + "/projects/", self.list_projects)
        app.router.add_get(BASE + "/projects/{project}/{resource}/", self.list_nested)
        app.router.add_post(BASE + "/projects/{project}/issues/", self.create_issue)
        app.router.add_patch(BASE + "/projects/{project}/issues/{issue}/", self.update_issue)
        return app

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-Key") != self.api_key:
            return web.json_response({"detail": "Given API token is not valid"}, status=401)
        if self.failures:
            status, retry_after = self.failures.pop(0)
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            detail = "Request was throttled." if status == 429 else "Internal Server Error"
            return web.json_response({"detail": detail}, status=status, headers=headers)
        if request.match_info["slug"] != self.slug:
            return web.json_response({"error": "Workspace does not exist"}, status=404)
        project = request.match_info.get("project")
        if project is not None and project not in self.projects:
            return web.json_response({"error": "Project does not exist"}, status=404)
        return None

    def _paged(self, request: web.Request, listed: list[dict[str, Any]]) -> web.Response:
        try:
            per_page = max(1, min(int(request.query.get("per_page", "100")), 100))
            given = request.query.get("cursor")
            page = int(given.split(":")[1]) if given else 0
            if page < 0:
                raise ValueError(page)
        except (ValueError, IndexError):
            return web.json_response({"error": "Invalid cursor parameter."}, status=400)
        chosen = listed[page * per_page : (page + 1) * per_page]
        more = (page + 1) * per_page < len(listed)
        return web.json_response(
            {
                "grouped_by": None,
                "sub_grouped_by": None,
                "total_count": len(listed),
                "next_cursor": f"{per_page}:{page + 1}:0",
                "prev_cursor": f"{per_page}:{page - 1}:1",
                "next_page_results": more,
                "prev_page_results": page > 0,
                "count": len(chosen),
                "total_pages": max(1, -(-len(listed) // per_page)),
                "total_results": len(listed),
                "extra_stats": None,
                "results": chosen,
            }
        )

    async def list_projects(self, request: web.Request) -> web.Response:
        return self._refusal(request) or self._paged(request, list(self.projects.values()))

    def _expanded(self, issue: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        shown = copy.deepcopy(issue)
        if "state" in expand:
            shown["state"] = next((s for s in STATES if s["id"] == issue["state"]), issue["state"])
        if "assignees" in expand:
            shown["assignees"] = [next((m for m in MEMBERS if m["id"] == a), a) for a in issue["assignees"]]
        return shown

    async def list_nested(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        project, resource = request.match_info["project"], request.match_info["resource"]
        if resource == "issues":
            expand = set(request.query.get("expand", "").split(","))
            listed = [self._expanded(i, expand) for i in self.issues.values() if i["project"] == project]
        elif resource == "cycles":
            listed = [c for c in self.cycles.values() if c["project_id"] == project]
        else:
            return web.json_response({"error": "Not found"}, status=404)
        return self._paged(request, listed)

    async def create_issue(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        body = await request.json()
        if not body.get("name"):
            return web.json_response({"name": ["This field is required."]}, status=400)
        values = {k: body[k] for k in ("name", "description_html", "priority", "state", "target_date") if k in body}
        issue_id = self._add("issues", request.match_info["project"], **values)
        return web.json_response(self.issues[issue_id], status=201)

    async def update_issue(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        issue = self.issues.get(request.match_info["issue"])
        if issue is None or issue["project"] != request.match_info["project"]:
            return web.json_response({"error": "Issue does not exist"}, status=404)
        body = await request.json()
        values = {k: body[k] for k in ("name", "description_html", "priority", "state", "target_date") if k in body}
        return web.json_response(self.change("issues", issue["id"], **values))

    async def deliver(self, url: str, secret: str, event: str, action: str, data: dict[str, Any]) -> int:
        """POST a webhook as Plane does (requests' json= body; the signature over exactly those bytes)."""
        payload = {
            "event": event,
            "action": action,
            "webhook_id": str(uuid.UUID(int=0xD1)),
            "workspace_id": str(uuid.UUID(int=0xC0)),
            "data": data,
            "activity": {"actor": {"id": MEMBERS[0]["id"], "display_name": MEMBERS[0]["display_name"]}},
        }
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Autopilot",
            "X-Plane-Delivery": str(uuid.uuid4()),
            "X-Plane-Event": event,
            "X-Plane-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
            return response.status

"""A local Google Tag Manager for tests: the API v2 endpoints a sync and the publish action use, in the documented
shape (developers.google.com/tag-platform/tag-manager/api/reference/rest/v2), on tests/providers/google_server.py's
shared Google OAuth2 and errors.

- `GET /tagmanager/v2/accounts/{a}/containers`, `.../containers/{c}/workspaces`, `.../workspaces/{w}/tags`,
  `/triggers`, `/variables`: `{"container" | "workspace" | "tag" | "trigger" | "variable": [...], "nextPageToken"}`
  in id order, `page_size` objects a page (the server's choice: the API takes no page size); `pageToken` continues
  after the last id answered (a deletion shifts nothing), an unknown one is 400. Objects carry `path`, `accountId`,
  `containerId`, (`workspaceId`), their id, `name`, `type`, `parameter` [{type, key, value}], `fingerprint`,
  `tagManagerUrl`; tags `firingTriggerId` and `paused`. An unknown account, container or workspace is 404.
- `POST .../workspaces/{w}:create_version {"name", "notes"}`: a containerVersion (`containerVersionId` counting from
  1, with copies of the workspace's tags, triggers and variables); the workspace is replaced by a new one (its items
  kept, `newWorkspacePath`), as Tag Manager does; a workspace with `compiler_error` set answers `compilerError: true`
  and makes no version.
- `POST .../containers/{c}/versions/{v}:publish`: the version goes live (`live`), `{"containerVersion", "compilerError":
  false}`; an unknown version 404.
Test hooks: `seed`, `delete`, GoogleApi's.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from providers.google_server import GoogleApi, google_error

BASE = "/tagmanager/v2/accounts/{account}"
ID_FIELD = {"container": "containerId", "tag": "tagId", "trigger": "triggerId", "variable": "variableId"}
PLURAL = {"tags": "tag", "triggers": "trigger", "variables": "variable"}


@dataclass
class TagManager(GoogleApi):
    account_id: str = "6000000001"
    page_size: int = 200
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspaces: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # container -> id -> workspace
    items: dict[tuple[str, str, str], dict[str, dict]] = field(default_factory=dict)  # (c, w, kind) -> id -> item
    versions: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # container -> id -> version
    live: dict[str, str] = field(default_factory=dict)  # container -> its published version id
    compiler_error: bool = False
    page_tokens: dict[str, int] = field(default_factory=dict)  # token -> the last id answered
    _next: int = 0

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _path(self, container: str, *rest: str) -> str:
        return "/".join(["accounts", self.account_id, "containers", container, *rest])

    def container(self, name: str = "Shop") -> tuple[str, str]:
        """A web container with its Default Workspace: (container id, workspace id)."""
        cid = str(1000 + len(self.containers) + 1)
        self.containers[cid] = {
            "path": self._path(cid),
            "accountId": self.account_id,
            "containerId": cid,
            "name": f"{name} {cid}",
            "publicId": f"GTM-T{cid}",
            "usageContext": ["web"],
            "domainName": ["shop.example.com"],
            "fingerprint": "1",
            "tagManagerUrl": f"https://tagmanager.google.com/#/container/accounts/{self.account_id}/containers/{cid}",
        }
        self.workspaces[cid] = {}
        return cid, self._workspace(cid)

    def _workspace(self, cid: str) -> str:
        wid = str(len(self.workspaces[cid]) + 1 + sum(len(v) for v in self.versions.values()))
        self.workspaces[cid][wid] = {
            "path": self._path(cid, "workspaces", wid),
            "accountId": self.account_id,
            "containerId": cid,
            "workspaceId": wid,
            "name": "Default Workspace",
            "fingerprint": "1",
        }
        return wid

    def seed(self, tags: int = 0, triggers: int = 0, variables: int = 0, containers: int = 0) -> None:
        for _ in range(containers):
            self.container()
        if not self.containers:
            self.container()
        cid = next(iter(self.containers))
        wid = next(iter(self.workspaces[cid]))
        for kind, count in (("trigger", triggers), ("variable", variables), ("tag", tags)):
            held = self.items.setdefault((cid, wid, kind), {})
            for n in range(count):
                iid = self._id()
                held[iid] = {
                    "path": self._path(cid, "workspaces", wid, f"{kind}s", iid),
                    "accountId": self.account_id,
                    "containerId": cid,
                    "workspaceId": wid,
                    ID_FIELD[kind]: iid,
                    "name": f"{kind.capitalize()} {n}",
                    "fingerprint": "1",
                } | self._body(kind, n, cid, wid)

    def _body(self, kind: str, n: int, cid: str, wid: str) -> dict[str, Any]:
        if kind == "tag":
            triggers = list(self.items.get((cid, wid, "trigger"), {}))[:1] or ["2147479553"]  # All Pages
            html = f"<script>console.log({n})</script>"
            return {
                "type": "html",
                "parameter": [{"type": "template", "key": "html", "value": html}],
                "firingTriggerId": triggers,
                "paused": n % 5 == 4,
            }
        if kind == "trigger":
            return {"type": "customEvent", "customEventFilter": [{"type": "equals", "parameter": []}]}
        return {"type": "v", "parameter": [{"type": "template", "key": "name", "value": f"dl_key_{n}"}]}

    def ids(self, resource: str) -> list[str]:
        if resource == "containers":
            return sorted(self.containers, key=int)
        kind = PLURAL[resource]
        return [
            f"{c}:{w}:{i}"
            for (c, w, k), held in self.items.items()
            if k == kind and w in self.workspaces[c]
            for i in held
        ]

    def routes(self, app: web.Application) -> None:
        app.router.add_get(BASE + "/containers", self.list_containers)
        app.router.add_get(BASE + "/containers/{container}/workspaces", self.list_workspaces)
        app.router.add_get(BASE + "/containers/{container}/workspaces/{workspace}/{kind}", self.list_items)
        app.router.add_post(BASE + "/containers/{container}/workspaces/{workspace}:create_version", self.create_version)
        app.router.add_post(BASE + "/containers/{container}/versions/{version}:publish", self.publish)

    def _page(self, request: web.Request, name: str, found: dict[str, dict]) -> web.Response:
        after = 0
        if token := request.query.get("pageToken"):
            if token not in self.page_tokens:
                return google_error(400, "Invalid page token.")
            after = self.page_tokens[token]
        rest = [k for k in sorted(found, key=int) if int(k) > after]
        chosen = rest[: self.page_size]
        answer: dict[str, Any] = {name: [copy.deepcopy(found[k]) for k in chosen]} if chosen else {}
        if len(rest) > len(chosen):
            token = secrets.token_urlsafe(12)
            self.page_tokens[token] = int(chosen[-1])
            answer["nextPageToken"] = token
        return web.json_response(answer)

    def _missing(self, request: web.Request) -> web.Response | None:
        info = request.match_info
        if info["account"] != self.account_id:
            return google_error(404, "Not found or permission denied.")
        if "container" in info and info["container"] not in self.containers:
            return google_error(404, "Not found or permission denied.")
        if "workspace" in info and info["workspace"] not in self.workspaces[info["container"]]:
            return google_error(404, "Not found or permission denied.")
        return None

    async def list_containers(self, request: web.Request) -> web.Response:
        return self._missing(request) or self._page(request, "container", self.containers)

    async def list_workspaces(self, request: web.Request) -> web.Response:
        return self._missing(request) or self._page(
            request, "workspace", self.workspaces[request.match_info["container"]]
        )

    async def list_items(self, request: web.Request) -> web.Response:
        if missing := self._missing(request):
            return missing
        info = request.match_info
        if info["kind"] not in PLURAL:
            return google_error(404, "Not found.")
        kind = PLURAL[info["kind"]]
        return self._page(request, kind, self.items.get((info["container"], info["workspace"], kind), {}))

    async def create_version(self, request: web.Request) -> web.Response:
        if missing := self._missing(request):
            return missing
        cid, wid = request.match_info["container"], request.match_info["workspace"]
        body = await request.json() if request.body_exists else {}
        if self.compiler_error:
            return web.json_response({"compilerError": True})
        held = self.versions.setdefault(cid, {})
        vid = str(len(held) + 1)
        version = {
            "path": self._path(cid, "versions", vid),
            "accountId": self.account_id,
            "containerId": cid,
            "containerVersionId": vid,
            "name": body.get("name", ""),
            "description": body.get("notes", ""),
            "container": copy.deepcopy(self.containers[cid]),
        }
        for kind in ("tag", "trigger", "variable"):
            version[kind] = [copy.deepcopy(i) for i in self.items.get((cid, wid, kind), {}).values()]
        held[vid] = version
        new = self._workspace(cid)  # Tag Manager replaces the workspace a version was made from
        for kind in ("tag", "trigger", "variable"):
            moved = self.items.pop((cid, wid, kind), {})
            self.items[(cid, new, kind)] = {k: v | {"workspaceId": new} for k, v in moved.items()}
        del self.workspaces[cid][wid]
        return web.json_response(
            {
                "containerVersion": version,
                "compilerError": False,
                "newWorkspacePath": self._path(cid, "workspaces", new),
            }
        )

    async def publish(self, request: web.Request) -> web.Response:
        if missing := self._missing(request):
            return missing
        cid, vid = request.match_info["container"], request.match_info["version"]
        if vid not in self.versions.get(cid, {}):
            return google_error(404, "Not found or permission denied.")
        self.live[cid] = vid
        return web.json_response({"containerVersion": self.versions[cid][vid], "compilerError": False})

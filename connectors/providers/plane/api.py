"""Plane's REST API v1, as a sync and the actions call it: one page of projects, issues or cycles, and the
`create_issue` / `update_issue` actions (developers.plane.so, "API reference").

The API key travels in `X-API-Key` (never in a URL, so no log line holds it). Every path is under
`{api_url}/api/v1/workspaces/{workspace_slug}/`. Lists page by cursor: `per_page` (at most 100) and `cursor`
(`<per_page>:<page>:<offset>`, opaque here) answer `{"results": [...], "next_cursor", "next_page_results",
"total_count", ...}`; the next page exists while `next_page_results` is true. Issues and cycles live under a project
(`projects/{id}/issues/`): the sync's cursor for them is `<project id>|<Plane's cursor>`, walking the projects in the
order Plane lists them, so one listing of a resource covers the workspace. Plane offers no "changed since" filter on
these lists: every run reads them whole (deletions by full reconciliation) and an object's version is its
`updated_at`. Redirects are not followed: the key would go with them.

Failures: 429 (Plane's throttle, with Retry-After) and 5xx ProviderBusy, 401/403 ProviderRefused naming the key,
404 the workspace slug or the API URL; a project named in a cursor that is gone restarts the run's pages.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from connectors.api_http import api_request, error_detail, raise_if_busy
from connectors.base import ApiCall, Page, PageCursorGone, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.providers.plane.mapping import MAPPERS, MODIFIED_FIELD

__all__ = [
    "MAPPERS",
    "create_issue",
    "cursor_of",
    "read_page",
    "reconciles",
    "test_connection",
    "update_issue",
]

MAX_PER_PAGE = 100
PER_PROJECT = ("issues", "cycles")  # resources listed under each project
EXPAND = {"issues": "state,assignees"}  # names, not only ids, for the records


def _headers(call: ApiCall) -> dict[str, str]:
    key = str(call.secrets.get(call.facts.auth.key_field) or "")
    if not key:
        raise ProviderRefused("Plane: the connector has no API key: add secrets.api_key (Profile settings > API keys)")
    return {"X-API-Key": key, "Accept": "application/json"}


async def _check(response: aiohttp.ClientResponse, call: ApiCall, what: str) -> None:
    if response.status < 400:
        return
    detail = await error_detail(response, "detail", "error", "message")
    raise_if_busy(response, call, "Plane", what, detail)
    if response.status in (401, 403):
        raise ProviderRefused(
            f"Plane {what}: the API key was refused ({detail}): make a key under Profile settings > API tokens in a "
            "workspace member's account and copy it whole into secrets.api_key"
        )
    if response.status == 404:
        raise ProviderRefused(
            f"Plane {what}: not found ({detail}): check config.workspace_slug (the part of the workspace's URL after "
            "app.plane.so/) and config.api_url (https://api.plane.so for Plane Cloud, your own when self-hosted)"
        )
    raise ProviderRefused(f"Plane {what}: Plane refused the request ({detail})")


async def _get_json(call: ApiCall, path: str, params: dict[str, str], what: str) -> Any:
    url = base_url(call.facts, dict(call.config)) + path
    async with api_request(call, "GET", url, _headers(call), params=params) as response:
        await _check(response, call, what)
        return await response.json(content_type=None)


async def _list(call: ApiCall, path: str, cursor: str | None, per_page: int, what: str, expand: str = "") -> Page:
    params = {"per_page": str(min(per_page, MAX_PER_PAGE))}
    if cursor:
        params["cursor"] = cursor
    if expand:
        params["expand"] = expand
    body = await _get_json(call, path, params, what)
    if isinstance(body, list):  # an unpaginated answer (a list endpoint of an older Plane)
        return Page(objects=[o for o in body if isinstance(o, dict)])
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ProviderRefused(f"Plane {what}: the answer has no `results` list")
    more = bool(body.get("next_page_results")) and bool(body.get("next_cursor"))
    return Page(
        objects=[o for o in body["results"] if isinstance(o, dict)],
        total=body.get("total_count") if isinstance(body.get("total_count"), int) else None,
        next_cursor=str(body["next_cursor"]) if more else None,
    )


async def _project_ids(call: ApiCall) -> list[str]:
    """Every project of the workspace, in Plane's order."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        page = await _list(call, "projects/", cursor, MAX_PER_PAGE, "listing projects")
        found += [str(p["id"]) for p in page.objects if p.get("id")]
        if page.next_cursor is None or not page.objects:
            return found
        cursor = page.next_cursor


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    after: str | None = None,
) -> Page:
    """The page of `resource` after cursor `after` (None: the first). Plane lists no changes since a time: `since`
    and `until` are not sent (the facts declare no since_param)."""
    per_page = min(resource.page_size, MAX_PER_PAGE)
    if resource.name not in PER_PROJECT:
        return await _list(call, resource.path, after, per_page, f"listing {resource.name}")
    projects = await _project_ids(call)
    project, _, cursor = (after or "").partition("|")
    if after is None:
        if not projects:
            return Page(objects=[])
        project, cursor = projects[0], ""
    elif project not in projects:
        raise PageCursorGone(f"project {project} is gone from the workspace")
    while True:  # a project without any goes on to the next, so an empty page ends the whole listing
        path = f"projects/{project}/{resource.path}"
        expand = EXPAND.get(resource.name, "")
        listed = await _list(call, path, cursor or None, per_page, f"listing {resource.name}", expand)
        following = projects.index(project) + 1
        if listed.next_cursor is not None:
            next_cursor: str | None = f"{project}|{listed.next_cursor}"
        else:
            next_cursor = f"{projects[following]}|" if following < len(projects) else None
        if listed.objects or next_cursor is None:
            return Page(objects=listed.objects, next_cursor=next_cursor)
        project, _, cursor = next_cursor.partition("|")


async def test_connection(call: ApiCall) -> None:
    """One project: raises ProviderRefused when the URL, the workspace or the key is wrong."""
    await _list(call, "projects/", None, 1, "listing projects")


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """The object's version: its `updated_at` (no resource is incremental: this keys idempotency only)."""
    value = obj.get(resource.cursor_field or MODIFIED_FIELD)
    return str(value) if value else None


def reconciles(resource: Resource, external_id: str) -> bool:
    return True  # every record of a listed kind comes from its listing


def _uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ProviderRefused(f"{name} must be a Plane id (a UUID)") from None


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


async def _send(call: ApiCall, method: str, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
    url = base_url(call.facts, dict(call.config)) + path
    async with api_request(call, method, url, _headers(call), json=body) as response:
        await _check(response, call, what)
        return await response.json(content_type=None)


async def create_issue(
    call: ApiCall,
    project_id: str,
    name: str,
    description_html: str | None = None,
    priority: str | None = None,
    state: str | None = None,
    target_date: str | None = None,
) -> dict[str, Any]:
    """The `create_issue` action: POST projects/{id}/issues/. Answers the issue Plane made."""
    project_id = _uuid(project_id, "project_id")
    body = _fields(
        {
            "name": name,
            "description_html": description_html,
            "priority": priority,
            "state": state and _uuid(state, "state"),
            "target_date": target_date,
        }
    )
    return await _send(call, "POST", f"projects/{project_id}/issues/", body, f"creating an issue in {project_id}")


async def update_issue(
    call: ApiCall,
    project_id: str,
    issue_id: str,
    name: str | None = None,
    description_html: str | None = None,
    priority: str | None = None,
    state: str | None = None,
    target_date: str | None = None,
) -> dict[str, Any]:
    """The `update_issue` action: PATCH projects/{id}/issues/{id}/ with the fields given. Answers the issue."""
    project_id, issue_id = _uuid(project_id, "project_id"), _uuid(issue_id, "issue_id")
    body = _fields(
        {
            "name": name,
            "description_html": description_html,
            "priority": priority,
            "state": state and _uuid(state, "state"),
            "target_date": target_date,
        }
    )
    if not body:
        raise ProviderRefused("update_issue: give at least one field to change")
    path = f"projects/{project_id}/issues/{issue_id}/"
    return await _send(call, "PATCH", path, body, f"updating issue {issue_id}")

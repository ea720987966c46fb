"""Google Tag Manager API v2, as a sync and the actions call it.

Listings (`Authorization: Bearer`: connectors/providers/google_common/client.py): `GET {base}accounts/{a}/containers`
answers `{"container": [...], "nextPageToken"}`, and `GET {base}accounts/{a}/containers/{c}/workspaces/{w}/
{tags|triggers|variables}` `{"tag" | "trigger" | "variable": [...], "nextPageToken"}`; `pageToken` asks for the next
page (the resources are `pagination = "cursor"`; Google sizes the pages). The workspace is the config's, else the
container's "Default Workspace" (else its first), looked up by `GET .../workspaces` when a listing needs it. Each
object gets `id` (mapping.object_id).

Action `publish_workspace`: `POST .../workspaces/{w}:create_version {"name", "notes"}` makes a container version of
the workspace (a `compilerError` refuses: nothing is published), then `POST accounts/{a}/containers/{c}/versions/
{v}:publish` makes it live. Answers the version's id.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource
from connectors.providers.google_common.client import api_base, digits, send
from connectors.providers.google_tag_manager.mapping import MAPPERS, object_id

__all__ = ["MAPPERS", "cursor_of", "publish_workspace", "read_page", "reconciles", "test_connection"]

LISTED = {"containers": "container", "tags": "tag", "triggers": "trigger", "variables": "variable"}
DEFAULT_WORKSPACE = "Default Workspace"


def _container(call: ApiCall) -> str:
    account = digits(call.config.get("account_id"), "account_id")
    return f"{api_base(call)}accounts/{account}/containers/{digits(call.config.get('container_id'), 'container_id')}"


async def workspace_id(call: ApiCall) -> str:
    if call.config.get("workspace_id"):
        return digits(call.config["workspace_id"], "workspace_id")
    found = await send(call, "GET", f"{_container(call)}/workspaces", "listing workspaces")
    workspaces = found.get("workspace") or [] if isinstance(found, dict) else []
    if not workspaces:
        raise ProviderRefused("Google Tag Manager: the container has no workspace (check config.container_id)")
    chosen = next((w for w in workspaces if w.get("name") == DEFAULT_WORKSPACE), workspaces[0])
    return str(chosen["workspaceId"])


async def _listing_url(call: ApiCall, resource: Resource) -> str:
    if resource.name == "containers":
        return f"{api_base(call)}accounts/{digits(call.config.get('account_id'), 'account_id')}/containers"
    return f"{_container(call)}/workspaces/{await workspace_id(call)}/{resource.name}"


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The listing's first page (`after` None), or the page its token `after` names."""
    params = {"pageToken": after} if after else {}
    answer = await send(call, "GET", await _listing_url(call, resource), f"listing {resource.name}", params=params)
    listed = answer.get(LISTED[resource.name], []) if isinstance(answer, dict) else None
    if not isinstance(listed, list):
        raise ProviderRefused(f"Google Tag Manager listing {resource.name}: the answer has no list")
    objects = [{"id": object_id(resource.kind, o), **o} for o in listed if isinstance(o, dict)]
    following = answer.get("nextPageToken")
    return Page(objects=objects, next_cursor=str(following) if following else None)


async def test_connection(call: ApiCall) -> None:
    await workspace_id(call)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # no modification time: states are keyed by a hash of the object


def reconciles(resource: Resource, external_id: str) -> bool:
    return True


async def publish_workspace(call: ApiCall, name: str, notes: str = "") -> dict[str, Any]:
    """The `publish_workspace` action: a version of the workspace, published."""
    workspace = await workspace_id(call)
    url = f"{_container(call)}/workspaces/{workspace}:create_version"
    made = await send(call, "POST", url, "creating a version", json={"name": name, "notes": notes})
    version = made.get("containerVersion") if isinstance(made, dict) else None
    if made.get("compilerError") or not isinstance(version, dict) or not version.get("containerVersionId"):
        raise ProviderRefused("Google Tag Manager: the workspace does not compile; fix it in Tag Manager, then publish")
    version_id = str(version["containerVersionId"])
    url = f"{_container(call)}/versions/{version_id}:publish"
    published = await send(call, "POST", url, f"publishing version {version_id}")
    if (
        published.get("compilerError")
        or (published.get("containerVersion") or {}).get("containerVersionId") != version_id
    ):
        raise ProviderRefused(f"Google Tag Manager: version {version_id} was made but not published")
    return {"id": version_id, "name": name, "workspace_id": workspace, "new_workspace": made.get("newWorkspacePath")}

"""WordPress's REST API v2, as a sync and the actions call it: one page of posts, pages, comments or users, and
`create_draft_post`. Auth and errors are rest.py's (application passwords; 401/403/404 ProviderRefused with the fix,
429/5xx ProviderBusy).

- **Pages**: `page`/`per_page` (at most 100), ordered by id ascending, with X-WP-Total and X-WP-TotalPages.
- **Every state, not only the published**: posts and pages default to `status=publish`; the sync asks for
  `publish,future,draft,pending,private` with `context=edit` (raw fields, and what an editor sees). Comments
  default to approved ones: `status=all` (approved and held) with `context=edit` (the author's email). Users: with
  `context=edit` and a user who may `list_users`, every user with email and roles (without it WordPress lists
  only authors of published posts). Trashed and spam objects are left out, so full reconciliation deletes them.
- **The window is site-local.** `modified_after`/`modified_before` are compared with `post_modified`, the site's
  local time, and core has no `dates_are_gmt`; an offset in the value is not honoured either. So the UTC window
  the sync fixed is converted with the site's `gmt_offset` (GET /wp-json/?_fields=gmt_offset,timezone_string, read
  once per page of an incremental run) and sent without an offset. That offset is today's: a site with a named
  time zone (`timezone_string`, so daylight saving) stored older posts under another offset, so `since` is moved
  an hour earlier there (objects re-read publish nothing new: their keys name modified_gmt). `until` needs no
  margin: objects modified just before the run's start carry today's offset. The checkpoint is `modified_gmt`.
- **Comments and users carry no modification time**: they are listed whole every run; their idempotency key
  names the state by a hash (`sync_pages.version_of`) and their provider time is the read, as for Stripe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.normalize import utc_time
from connectors.providers.wordpress import rest
from connectors.providers.wordpress.mapping import MAPPERS, MODIFIED_FIELD

__all__ = [
    "MAPPERS",
    "create_draft_post",
    "cursor_of",
    "read_page",
    "reconciles",
    "site_offset",
    "test_connection",
]

PRODUCT = "WordPress"
PERMISSIONS = (
    "give the user the Editor role (drafts and others' posts, held comments) or Administrator (every user: "
    "list_users); creating a draft needs edit_posts"
)
# what a sync lists of each resource beyond the defaults (publish, approved, published authors)
LIST_PARAMS: dict[str, dict[str, str]] = {
    "posts": {"status": "publish,future,draft,pending,private", "context": "edit"},
    "pages": {"status": "publish,future,draft,pending,private", "context": "edit"},
    "comments": {"status": "all", "context": "edit"},
    "users": {"context": "edit"},
}
DST_MARGIN = timedelta(hours=1)  # the largest daylight-saving shift in the tz database


def _site_root(call: ApiCall) -> str:
    """{site_url}/wp-json/ (the API's discovery document) from the v2 base URL."""
    return base_url(call.facts, dict(call.config)).removesuffix("wp/v2/")


async def site_offset(call: ApiCall) -> tuple[timedelta, bool]:
    """The site's current UTC offset and whether it follows a named time zone (daylight saving possible)."""
    params = {"_fields": "gmt_offset,timezone_string"}
    async with rest.request(call, "GET", _site_root(call), params=params) as response:
        await rest.check(response, call, PRODUCT, "reading the site's time zone", PERMISSIONS)
        body = await response.json(content_type=None)
    if not isinstance(body, dict):
        raise ProviderRefused("WordPress reading the site's time zone: /wp-json/ is not a JSON object")
    try:
        hours = float(body.get("gmt_offset") or 0)
    except (TypeError, ValueError):
        raise ProviderRefused(f"WordPress: /wp-json/ has no numeric gmt_offset ({body.get('gmt_offset')!r})") from None
    return timedelta(hours=hours), bool(body.get("timezone_string"))


def _local(value: str, offset: timedelta) -> str:
    return (utc_time(value) + offset).strftime("%Y-%m-%dT%H:%M:%S")


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
) -> Page:
    """Page `page` (from 1) of `resource`, ordered by id ascending, every status the sync keeps; for posts and
    pages inside the UTC window (since, until) of modified_gmt when given (sent in the site's local time)."""
    params = {
        "page": str(page),
        "per_page": str(min(per_page or resource.page_size, rest.MAX_PER_PAGE)),
        "orderby": "id",
        "order": "asc",
        **LIST_PARAMS.get(resource.name, {}),
    }
    if resource.since_param and (since or until):
        offset, named_zone = await site_offset(call)
        if since:
            params[resource.since_param] = _local(since, offset - (DST_MARGIN if named_zone else timedelta()))
        if until:
            params[resource.since_param.replace("_after", "_before")] = _local(until, offset)
    url = base_url(call.facts, dict(call.config)) + resource.path
    async with rest.request(call, "GET", url, params=params) as response:
        await rest.check(response, call, PRODUCT, f"listing {resource.name}", PERMISSIONS)
        return await rest.list_page(response, PRODUCT, resource)


async def test_connection(call: ApiCall) -> None:
    """One post, as the sync reads them (context=edit, every status): raises ProviderRefused when the URL, the
    login or the user's role is wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """The checkpoint value of posts and pages (modified_gmt); None for comments and users (no such time)."""
    if not resource.cursor_field:
        return None
    value = obj.get(resource.cursor_field or MODIFIED_FIELD)
    return str(value) if value else None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every record of these kinds from a WordPress connector is one its lists show while it exists (not trashed)."""
    return True


async def create_draft_post(
    call: ApiCall, title: str, content: str | None = None, excerpt: str | None = None
) -> dict[str, Any]:
    """The `create_draft_post` action: POST posts {"title", "content", "excerpt", "status": "draft"}. Answers the
    created post (context=edit). WordPress has no idempotency key: a retry after a lost answer makes a second
    draft (docs/decisions.md)."""
    if not str(title).strip():
        raise ProviderRefused("create_draft_post: title must not be empty")
    body: dict[str, Any] = {"title": title, "status": "draft"}
    if content is not None:
        body["content"] = content
    if excerpt is not None:
        body["excerpt"] = excerpt
    url = base_url(call.facts, dict(call.config)) + "posts"
    async with rest.request(call, "POST", url, json=body, params={"context": "edit"}) as response:
        await rest.check(response, call, PRODUCT, "creating a draft post", PERMISSIONS)
        return await response.json(content_type=None)

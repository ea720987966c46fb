"""FluentCRM's REST API (a WordPress plugin, under /wp-json/fluent-crm/v2/), as a sync and the actions call it: one
page of contacts, tags, lists or campaigns, and `add_tag`. Auth and errors are WordPress's
(connectors/providers/wordpress/rest.py: application passwords; 401/403/404 ProviderRefused with the fix, 429/5xx
ProviderBusy).

- **Pages are in the body**: GET subscribers?page=&per_page=&sort_by=id&sort_type=ASC answers
  `{"subscribers": {"total", "per_page", "current_page", "last_page", "data": [...]}}` (developers.fluentcrm.com,
  "List Contacts"); `last_page` and `total` become the Page's, so the sync's page loop and its "the listing changed,
  read again" check work as for WordPress's headers. per_page is capped at 100 (the docs name no maximum). Tags,
  lists and campaigns answer the same paginator under their own name (`{"tags": {...}}`); the docs' examples show
  tags and lists as a bare array, which is read as one whole last page. Their sort direction is `sort_order` (tags,
  lists) or `sort_type` (contacts, campaigns). Tags and lists are asked with `exclude_counts`: the member counts
  change with every contact and would make an unchanged tag a new state each run (the contacts carry membership).
- **Every run is full**: the list has no "changed since" in its simple filters, and attaching a tag or a list need
  not move a contact's `updated_at` (local time, no offset), so contacts are listed whole, their idempotency key
  names the state by a hash (`sync_pages.version_of`) and their provider time is the read, as for Stripe.
- `add_tag` is POST subscribers/sync-segments {"subscribers": [id], "type": "tags", "attach": [tag]} (by id, or
  by slug with `find_by: "slug"`); attaching a tag twice changes nothing, so a retried activity is harmless.
"""

from __future__ import annotations

from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.providers.fluentcrm.mapping import MAPPERS
from connectors.providers.wordpress import rest

__all__ = ["MAPPERS", "add_tag", "cursor_of", "read_page", "reconciles", "test_connection"]

PRODUCT = "FluentCRM"
PERMISSIONS = (
    "give the key's manager the FluentCRM permissions to read contacts and to manage tags and lists "
    "(FluentCRM > Settings > Managers)"
)


ORDER_PARAM = {"tags": "sort_order", "lists": "sort_order"}  # the others: sort_type
EXTRA_PARAMS = {"tags": {"exclude_counts": "true"}, "lists": {"exclude_counts": "true"}}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
) -> Page:
    """Page `page` (from 1) of `resource`, ordered by id ascending; `since`/`until` are unused (every run is full)."""
    params = {
        "page": str(page),
        "per_page": str(min(per_page or resource.page_size, rest.MAX_PER_PAGE)),
        "sort_by": "id",
        ORDER_PARAM.get(resource.name, "sort_type"): "ASC",
        **EXTRA_PARAMS.get(resource.name, {}),
    }
    url = base_url(call.facts, dict(call.config)) + resource.path
    async with rest.request(call, "GET", url, params=params) as response:
        await rest.check(response, call, PRODUCT, f"listing {resource.name}", PERMISSIONS)
        body = await response.json(content_type=None)
    listing = body.get(resource.name) if isinstance(body, dict) else None
    if isinstance(listing, list):  # the bare array of the docs' examples: everything at once
        return Page(objects=[o for o in listing if isinstance(o, dict)], total=len(listing), total_pages=1)
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        raise ProviderRefused(
            f"FluentCRM listing {resource.name}: the answer has no {resource.name}.data list (is this FluentCRM 2.x?)"
        )
    return Page(
        objects=[o for o in listing["data"] if isinstance(o, dict)],
        total=_int(listing.get("total")),
        total_pages=_int(listing.get("last_page")),
    )


async def test_connection(call: ApiCall) -> None:
    """One contact: raises ProviderRefused when the URL, the key or the manager's permissions are wrong."""
    await read_page(call, call.facts.resources[0], 1, per_page=1)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    """None: FluentCRM's objects carry only a local-time updated_at, so there is no checkpoint (every run is full)."""
    return None


def reconciles(resource: Resource, external_id: str) -> bool:
    """Every record of a kind from a FluentCRM connector is one its list shows while it exists (one resource per
    kind)."""
    return True


async def add_tag(call: ApiCall, contact_id: str, tag: str) -> dict[str, Any]:
    """The `add_tag` action: attach the tag (its id, or its slug) to the contact. Answers the updated contact."""
    if not str(contact_id).isdigit() or not str(tag).strip():
        raise ProviderRefused("add_tag: contact_id must be a FluentCRM contact id and tag a tag id or slug")
    body: dict[str, Any] = {"subscribers": [int(contact_id)], "type": "tags"}
    if str(tag).isdigit():
        body["attach"] = [int(tag)]
    else:
        body |= {"attach": [tag], "find_by": "slug"}
    url = base_url(call.facts, dict(call.config)) + "subscribers/sync-segments"
    async with rest.request(call, "POST", url, json=body) as response:
        await rest.check(response, call, PRODUCT, f"tagging contact {contact_id}", PERMISSIONS)
        answer = await response.json(content_type=None)
    contacts = answer.get("subscribers") if isinstance(answer, dict) else None
    found = [c for c in contacts or [] if isinstance(c, dict) and str(c.get("id")) == str(contact_id)]
    if not found:
        raise ProviderRefused(f"FluentCRM tagging contact {contact_id}: no such contact (the answer lists none)")
    return found[0]

"""The Pinterest API v5 as a sync and the actions call it: `bookmark` pages of an ad account's campaigns, ad groups
and ads, of the user's pins, and of campaigns' daily analytics; `pause_campaign`.

Requests carry `Authorization: Bearer <access token>` (OAuth2: the sync's token source, else the stored token while
valid; a 401 asks the source for a new one once). Lists answer `{"items": [...], "bookmark": <str | null>}`: the next
page is asked with `bookmark=<it>`, and null ends the listing; the sync keeps the bookmark as its cursor position.

Analytics (`GET ad_accounts/{id}/campaigns/analytics?start_date&end_date&campaign_ids&columns&granularity=DAY`) need
the campaigns named and are not paged themselves: each batch is one page of the campaigns listing, its rows answered
page_size at a time (cursor `<campaigns bookmark>|<rows answered>`: a later page asks the batch's analytics again),
and a page never ends empty while campaigns follow (an empty page ends a sync). The window is the last `lookback_days`
(config, default 30, at most 89: Pinterest answers 90 days at most) to today (UTC), every run; rows older than it
stay (`reconciles` False). Campaigns, ad groups and ads carry no currency: one `GET ad_accounts/{id}` per page adds
the account's as `account_currency`.

Failures: 429 and 5xx ProviderBusy (Retry-After when sent); 401 (after one new token) and 403 ProviderRefused naming
the fix; others ProviderRefused with Pinterest's `code` and `message`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.access_tokens import access_token
from connectors.base import ApiCall, Page, ProviderBusy, ProviderRefused, retry_after_s
from connectors.facts import Resource, base_url
from connectors.json_api import Answer, bearer_json
from connectors.providers.pinterest.mapping import MAPPERS, METRICS, row_id

__all__ = ["MAPPERS", "cursor_of", "pause_campaign", "read_page", "reconciles", "test_connection"]

TITLE = "Pinterest"
MAX_PAGE_SIZE = 250
DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS = 30, 89
RECONNECT = "reconnect it (GET /v1/connectors/{id}/oauth/authorize)"
# Where the API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the token
# goes there)
API_BASE: str | None = None


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, {})


def account(call: ApiCall) -> str:
    value = str(call.config.get("ad_account_id") or "").strip()
    if not value.isdigit():
        raise ProviderRefused("Pinterest: config.ad_account_id must be the ad account's number")
    return value


def _checked(answer: Answer, call: ApiCall, what: str) -> Any:
    if answer.status < 400 and answer.body is not None:
        return answer.body
    code, message = answer.field("code"), str(answer.field("message") or "")[:300]
    detail = f"HTTP {answer.status}{f' code {code}' if code is not None else ''}{f': {message}' if message else ''}"
    if answer.status == 429 or answer.status >= 500:
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        raise ProviderBusy(f"{TITLE} {what}: {detail}, try later", retry_after_s(answer.headers, header))
    if answer.status in (401, 403):
        scopes = ", ".join(call.facts.auth.scopes)
        raise ProviderRefused(f"{TITLE} {what}: refused ({detail}): the connection needs {scopes}: {RECONNECT}")
    raise ProviderRefused(f"{TITLE} {what}: Pinterest refused the request ({detail})")


async def api(call: ApiCall, method: str, path: str, what: str, **kwargs: Any) -> Any:
    token = partial(access_token, call)
    answer = await bearer_json(call, token, method, _base(call) + path, f"{TITLE} {what}", _unauthorized, **kwargs)
    return _checked(answer, call, what)


def _unauthorized(answer: Answer) -> bool:
    return answer.status == 401


async def listing(call: ApiCall, path: str, what: str, size: int, bookmark: str | None, **params: str):
    """(items, the next bookmark or None) of one page of a list."""
    query = {"page_size": str(min(size, MAX_PAGE_SIZE)), **params} | ({"bookmark": bookmark} if bookmark else {})
    body = await api(call, "GET", path, what, params=query)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ProviderRefused(f"{TITLE} {what}: the answer has no items list")
    following = body.get("bookmark")
    return [i for i in items if isinstance(i, dict) and i.get("id")], (str(following) if following else None)


async def currency(call: ApiCall) -> str:
    body = await api(call, "GET", f"ad_accounts/{account(call)}", "reading the ad account")
    return str((body or {}).get("currency") or "")


def window(call: ApiCall, today: datetime | None = None) -> tuple[str, str, int]:
    """(start_date, end_date, days) of the analytics read: lookback_days before today (UTC) to today."""
    day = (today or datetime.now(UTC)).date()
    lookback = min(MAX_LOOKBACK_DAYS, max(1, int(call.config.get("lookback_days") or DEFAULT_LOOKBACK_DAYS)))
    return (day - timedelta(days=lookback)).isoformat(), day.isoformat(), lookback + 1


async def _analytics(call: ApiCall, resource: Resource, size: int, after: str | None) -> Page:
    """The rows of one batch of campaigns (a page of the campaigns listing), page_size rows at a time: the cursor is
    `<campaigns bookmark>|<rows already answered>`."""
    start, end, _ = window(call)
    campaigns_path, what = f"ad_accounts/{account(call)}/campaigns", f"listing {resource.name}"
    bookmark, _, skipped = (after or "").rpartition("|") if after else ("", "", "0")
    offset, held = int(skipped or 0), None
    while True:
        campaigns, following = await listing(call, campaigns_path, what, size, bookmark or None)
        rows: list[dict[str, Any]] = []
        if campaigns:
            params = {"start_date": start, "end_date": end, "granularity": "DAY", "columns": ",".join(METRICS)}
            params["campaign_ids"] = ",".join(str(c["id"]) for c in campaigns)
            path = resource.path.format(ad_account_id=account(call))
            answer = await api(call, "GET", path, what, params=params)
            if not isinstance(answer, list):
                raise ProviderRefused(f"{TITLE} {what}: the answer is not a list of rows")
            rows = [r for r in answer if isinstance(r, dict) and r.get("DATE")][offset : offset + size]
        if rows:
            held = held if held is not None else await currency(call)
            more = len(rows) == size  # perhaps more rows of this batch: the next page asks from there
            cursor = f"{bookmark}|{offset + size}" if more else (f"{following}|0" if following else None)
            return Page(objects=[{"id": row_id(r), **r, "account_currency": held} for r in rows], next_cursor=cursor)
        if following is None:
            return Page(objects=[], next_cursor=None)
        bookmark, offset = following, 0  # a batch without (more) rows: the next one, never an empty page mid-way


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page the bookmark `after` names (None: the first); `since`/`until` unused (provider.toml: no filter)."""
    size = per_page or resource.page_size
    if resource.kind == "ad_performance":
        return await _analytics(call, resource, size, after)
    path = resource.path.format(ad_account_id=account(call)) if "{" in resource.path else resource.path
    extra = {"entity_statuses": "ACTIVE,PAUSED"} if resource.path.startswith("ad_accounts/") else {}
    items, following = await listing(call, path, f"listing {resource.name}", size, after, **extra)
    if items and resource.path.startswith("ad_accounts/"):
        held = await currency(call)
        items = [{**i, "account_currency": held} for i in items]
    return Page(objects=items, next_cursor=following)


async def test_connection(call: ApiCall) -> None:
    """The ad account itself: refused when its id, the token or the scopes are wrong."""
    await currency(call)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # every run lists a resource whole: versions are the object's hash


def reconciles(resource: Resource, external_id: str) -> bool:
    """Campaigns, ad groups, ads and pins a full listing misses are gone; past days' analytics stay true."""
    return resource.kind != "ad_performance"


async def pause_campaign(call: ApiCall, campaign_id: str) -> dict[str, Any]:
    """The `pause_campaign` action: `PATCH ad_accounts/{id}/campaigns` `[{"id", "status": "PAUSED"}]`; the answer's
    item carries the campaign (`data`) or why not (`exceptions`)."""
    if not str(campaign_id).isdigit():
        raise ProviderRefused("pause_campaign: campaign_id must be a Pinterest campaign id (digits)")
    what = f"pausing campaign {campaign_id}"
    body = [{"id": str(campaign_id), "status": "PAUSED"}]
    answer = await api(call, "PATCH", f"ad_accounts/{account(call)}/campaigns", what, json=body)
    items = answer.get("items") if isinstance(answer, dict) else None
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    if first.get("exceptions") or (first.get("data") or {}).get("status") != "PAUSED":
        problem = (first.get("exceptions") or [{}])[0]
        raise ProviderRefused(f"{TITLE} {what}: refused ({problem.get('code')}: {problem.get('message')})")
    return {"id": str(campaign_id), "campaign_id": str(campaign_id), "status": "paused"}

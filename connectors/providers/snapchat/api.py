"""The Snapchat Marketing API (v1) as a sync and the actions call it: pages of an ad account's campaigns, ad squads
and ads, campaigns' daily stats, and `pause_campaign`.

Requests carry `Authorization: Bearer <access token>` (OAuth2: the sync's token source, else the stored token while
valid; Snap's tokens last 30 minutes, and a 401 asks the source for a new one once). Answers wrap every object:
`{"request_status": "SUCCESS", "campaigns": [{"sub_request_status": "SUCCESS", "campaign": {...}}], "paging":
{"next_link": <url with ?cursor=>}}`; a page is asked with `limit` (50-1000) and the `cursor` of the previous
answer's next_link (only the cursor is kept and sent to the configured host, never the link's host); no next_link
ends the listing.

Stats (`GET campaigns/{id}/stats?granularity=DAY&fields=..&start_time&end_time`) are per campaign, between
midnights in the ad account's time zone (Snap refuses other boundaries for DAY): the last `lookback_days` (config,
default 30, at most 89) to tomorrow's midnight, every run; rows older than that stay (`reconciles` False). A page is
the days of consecutive campaigns of one page of the campaigns listing, as many as fit in page_size rows (cursor
`<campaigns cursor>|<index in that page>`), and never empty while campaigns follow. The ad account (one GET per page)
gives the currency (`account_currency` on each object) and the time zone.

Failures: Snap answers 429 without Retry-After (none is documented): ProviderBusy with no delay, so the sync's
Temporal retry policy backs off exponentially (1 s, 2 s, 4 s ... up to 2 minutes; connectors/temporal/workflows.py);
5xx likewise; 401 (after one new token) and 403 ProviderRefused naming the fix; others ProviderRefused with Snap's
error_code and debug_message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.access_tokens import access_token
from connectors.base import ApiCall, Page, ProviderBusy, ProviderRefused, retry_after_s
from connectors.facts import Resource, base_url
from connectors.json_api import Answer, bearer_json
from connectors.providers.snapchat.mapping import MAPPERS, STATS_FIELDS, row_id

__all__ = ["MAPPERS", "cursor_of", "pause_campaign", "read_page", "reconciles", "test_connection"]

TITLE = "Snapchat"
MIN_LIMIT, MAX_LIMIT = 50, 1000
DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS = 30, 89
RECONNECT = "reconnect it (GET /v1/connectors/{id}/oauth/authorize)"
WRAPPED = {"campaigns": "campaign", "adsquads": "adsquad", "ads": "ad", "adaccounts": "adaccount",
           "timeseries_stats": "timeseries_stat"}  # fmt: skip
READ_ONLY = ("created_at", "updated_at", "delivery_status", "creation_state")
# Where the API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the token
# goes there)
API_BASE: str | None = None


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, {})


def account(call: ApiCall) -> str:
    value = str(call.config.get("ad_account_id") or "").strip().lower()
    if len(value) != 36 or any(c not in "0123456789abcdef-" for c in value):
        raise ProviderRefused("Snapchat: config.ad_account_id must be the ad account's id (a UUID)")
    return value


def _checked(answer: Answer, call: ApiCall, what: str) -> dict[str, Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status < 400 and body.get("request_status", "SUCCESS") == "SUCCESS":
        return body
    code, message = body.get("error_code"), str(body.get("debug_message") or body.get("display_message") or "")
    detail = f"HTTP {answer.status}{f' {code}' if code else ''}{f': {message[:300]}' if message else ''}"
    if answer.status == 429 or answer.status >= 500:  # no Retry-After from Snap: the retry policy backs off
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        raise ProviderBusy(f"{TITLE} {what}: {detail}, try later", retry_after_s(answer.headers, header))
    if answer.status in (401, 403):
        raise ProviderRefused(f"{TITLE} {what}: refused ({detail}): the connection needs snapchat-marketing-api "
                              f"and access to the ad account: {RECONNECT}")  # fmt: skip
    raise ProviderRefused(f"{TITLE} {what}: Snap refused the request ({detail})")


async def api(call: ApiCall, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
    token = partial(access_token, call)
    answer = await bearer_json(
        call, token, method, _base(call) + path, f"{TITLE} {what}", lambda a: a.status == 401, **kwargs
    )
    return _checked(answer, call, what)


def unwrapped(body: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    """The objects of an answer's `key` list, out of their envelopes; a failed sub-request refuses the page."""
    listed = body.get(key)
    if not isinstance(listed, list):
        raise ProviderRefused(f"{TITLE} {what}: the answer has no {key} list")
    found = []
    for item in listed:
        if not isinstance(item, dict) or item.get("sub_request_status", "SUCCESS") != "SUCCESS":
            reason = item.get("sub_request_reason") if isinstance(item, dict) else None
            raise ProviderRefused(f"{TITLE} {what}: a sub-request failed ({reason or 'no reason given'})")
        if isinstance(item.get(WRAPPED[key]), dict):
            found.append(item[WRAPPED[key]])
    return found


def _cursor(body: dict[str, Any]) -> str | None:
    link = (body.get("paging") or {}).get("next_link")
    cursor = parse_qs(urlsplit(str(link)).query).get("cursor") if link else None
    return cursor[0] if cursor else None


async def listing(call: ApiCall, key: str, size: int, cursor: str | None, what: str):
    params = {"limit": str(max(MIN_LIMIT, min(size, MAX_LIMIT)))} | ({"cursor": cursor} if cursor else {})
    body = await api(call, "GET", f"adaccounts/{account(call)}/{key}", what, params=params)
    return unwrapped(body, key, what), _cursor(body)


async def ad_account(call: ApiCall) -> dict[str, Any]:
    body = await api(call, "GET", f"adaccounts/{account(call)}", "reading the ad account")
    (found,) = unwrapped(body, "adaccounts", "reading the ad account")[:1] or [{}]
    return found


def window(call: ApiCall, zone: str, now: datetime | None = None) -> tuple[str, str]:
    """(start_time, end_time): midnights in the ad account's time zone, lookback_days before today to tomorrow."""
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    lookback = min(MAX_LOOKBACK_DAYS, max(1, int(call.config.get("lookback_days") or DEFAULT_LOOKBACK_DAYS)))
    start, end = today - timedelta(days=lookback), today + timedelta(days=1)
    begin, finish = (datetime(d.year, d.month, d.day, tzinfo=tz).isoformat() for d in (start, end))
    return begin, finish


async def _days(call: ApiCall, campaign: dict[str, Any], span: tuple[str, str], held: dict[str, Any], what: str):
    params = {"granularity": "DAY", "fields": ",".join(STATS_FIELDS), "start_time": span[0], "end_time": span[1]}
    body = await api(call, "GET", f"campaigns/{campaign['id']}/stats", what, params=params)
    rows = []
    for stat in unwrapped(body, "timeseries_stats", what):
        for day in stat.get("timeseries") or []:
            if isinstance(day, dict) and int((day.get("stats") or {}).get("impressions") or 0) > 0:
                row = {"campaign_id": campaign["id"], "ad_account_id": held.get("id"), **day}
                rows.append({"id": row_id(row), **row, "account_currency": held.get("currency")})
    return rows


async def _stats(call: ApiCall, resource: Resource, size: int, after: str | None) -> Page:
    batch, _, index = after.rpartition("|") if after else ("", "", "0")
    position, what = int(index or 0), f"listing {resource.name}"
    held = await ad_account(call)
    span = window(call, str(held.get("timezone") or "UTC"))
    while True:
        campaigns, following = await listing(call, "campaigns", size, batch or None, what)
        rows: list[dict[str, Any]] = []
        while position < len(campaigns):
            days = await _days(call, campaigns[position], span, held, what)
            if rows and len(rows) + len(days) > size:
                break  # this campaign starts the next page
            rows, position = rows + days, position + 1
        if rows:
            more = f"{batch}|{position}" if position < len(campaigns) else (f"{following}|0" if following else None)
            return Page(objects=rows, next_cursor=more)
        if following is None:
            return Page(objects=[], next_cursor=None)
        batch, position = following, 0  # campaigns without a day in the window: on, never an empty page mid-way


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page the cursor `after` names (None: the first); `since`/`until` unused (provider.toml: no filter)."""
    size = per_page or resource.page_size
    if resource.kind == "ad_performance":
        return await _stats(call, resource, size, after)
    key = resource.path.rsplit("/", 1)[-1]
    objects, following = await listing(call, key, size, after, f"listing {resource.name}")
    if objects:
        currency = (await ad_account(call)).get("currency")
        objects = [{**o, "account_currency": currency} for o in objects if o.get("id")]
    return Page(objects=objects, next_cursor=following)


async def test_connection(call: ApiCall) -> None:
    """The ad account itself: refused when its id, the token or the scope are wrong."""
    if not (await ad_account(call)).get("id"):
        raise ProviderRefused("Snapchat: the ad account was not found: check config.ad_account_id")


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # every run lists a resource whole: versions are the object's hash


def reconciles(resource: Resource, external_id: str) -> bool:
    """Campaigns, ad squads and ads a full listing misses are gone; past days' stats stay true."""
    return resource.kind != "ad_performance"


async def pause_campaign(call: ApiCall, campaign_id: str) -> dict[str, Any]:
    """The `pause_campaign` action: the campaign read (`GET campaigns/{id}`), then `PUT adaccounts/{id}/campaigns`
    with it whole (Snap updates whole objects) and `status: PAUSED`."""
    what = f"pausing campaign {campaign_id}"
    body = await api(call, "GET", f"campaigns/{campaign_id}", what)
    (current,) = unwrapped(body, "campaigns", what)[:1] or [{}]
    if current.get("id") != campaign_id:
        raise ProviderRefused(f"{TITLE} {what}: no such campaign in the ad account")
    changed = {k: v for k, v in current.items() if k not in READ_ONLY} | {"status": "PAUSED"}
    path = f"adaccounts/{account(call)}/campaigns"
    answer = await api(call, "PUT", path, what, json={"campaigns": [changed]})
    updated = unwrapped(answer, "campaigns", what)
    if not updated or updated[0].get("status") != "PAUSED":
        raise ProviderRefused(f"{TITLE} {what}: the answer names no paused campaign")
    return {"id": campaign_id, "campaign_id": campaign_id, "status": "paused"}

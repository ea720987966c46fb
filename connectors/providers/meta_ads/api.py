"""The Meta Marketing API (Graph API v21.0) as a sync and the actions call it: cursor pages of campaigns, ad sets,
ads and daily Insights of an ad account, and `pause_campaign`.

Requests: `GET act_{ad_account_id}/campaigns|adsets|ads?fields=..&limit=n&after=<cursor>` and `GET
act_{ad_account_id}/insights?level=campaign|adset|ad&time_increment=1&time_range={"since","until"}&fields=..`, with
`Authorization: Bearer <user access token>` (OAuth2: the sync's token source, else the stored token while valid; a
refused token (401 or code 190) asks the source for another once). Answers and failures are the Graph API's
(connectors/providers/meta_common/graph.py: cursor paging by `paging.cursors.after` until no `paging.next`; rate
limits as code 4/17/32/613/80000-80014 with the wait in X-Business-Use-Case-Usage -> ProviderBusy).

Campaigns, ad sets and ads carry no currency: one `GET act_{id}?fields=currency` per page adds `account_currency`
to each (Insights rows carry it). Insights are read for the last `lookback_days` (config, default 30) to today (UTC),
every run: Meta restates conversions for 28 days; rows older than that window stay (`reconciles` is False for them).
Meta lists DELETED and ARCHIVED objects only when asked: a full run that no longer sees an object tombstones it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from connectors.access_tokens import access_token
from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource, base_url
from connectors.json_api import Answer, bearer_json
from connectors.providers.meta_ads.mapping import LEVELS, MAPPERS, row_id
from connectors.providers.meta_common.graph import checked, cursor_page

__all__ = ["MAPPERS", "cursor_of", "pause_campaign", "read_page", "reconciles", "test_connection"]

TITLE = "Meta Ads"
MAX_LIMIT = 100
DEFAULT_LOOKBACK_DAYS = 30
_COMMON = "id,name,status,effective_status,updated_time,account_id"
FIELDS = {
    "campaigns": f"{_COMMON},objective,buying_type,daily_budget,lifetime_budget,start_time,stop_time",
    "adsets": f"{_COMMON},campaign_id,optimization_goal,billing_event,bid_amount,daily_budget",
    "ads": f"{_COMMON},campaign_id,adset_id,creative{{id,title,body,object_type,link_url}}",
}
INSIGHTS = {"campaign_insights": "campaign", "adset_insights": "ad_group", "ad_insights": "ad"}  # -> our level
_INSIGHT_IDS = {"campaign": "campaign_id", "ad_group": "campaign_id,adset_id", "ad": "campaign_id,adset_id,ad_id"}
INSIGHT_FIELDS = "account_id,account_currency,date_start,date_stop,impressions,clicks,spend,actions,action_values"
TOKEN_FIX = "reconnect it (GET /v1/connectors/{id}/oauth/authorize) with ads_read and ads_management"
# Where the Graph API lives when not at provider.toml's base URL: tests set it (never a tenant's setting: the access
# token goes there)
API_BASE: str | None = None


def _base(call: ApiCall) -> str:
    return (API_BASE.rstrip("/") + "/") if API_BASE else base_url(call.facts, {})


def account(call: ApiCall) -> str:
    """The ad account's id as a path segment (`act_<digits>`), refused unless digits (with or without `act_`)."""
    value = str(call.config.get("ad_account_id") or "").strip().removeprefix("act_")
    if not value.isdigit():
        raise ProviderRefused("Meta Ads: config.ad_account_id must be the ad account's number (act_<digits>)")
    return f"act_{value}"


def _token_refused(answer: Answer) -> bool:
    error = answer.field("error")
    return answer.status == 401 or (isinstance(error, dict) and error.get("code") == 190)


async def graph(call: ApiCall, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
    """One Graph API request with the connector's access token, repeated once with a new one when Meta refuses it."""
    answer = await bearer_json(
        call, partial(access_token, call), method, _base(call) + path, f"{TITLE} {what}", _token_refused, **kwargs
    )
    return checked(answer, call, TITLE, what, TOKEN_FIX)


async def currency(call: ApiCall) -> str:
    body = await graph(call, "GET", account(call), "reading the ad account", params={"fields": "id,currency"})
    return str(body.get("currency") or "")


def window(call: ApiCall, today: datetime | None = None) -> dict[str, str]:
    day = (today or datetime.now(UTC)).date()
    lookback = int(call.config.get("lookback_days") or DEFAULT_LOOKBACK_DAYS)
    return {"since": (day - timedelta(days=max(1, lookback))).isoformat(), "until": day.isoformat()}


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The page after the cursor `after` (None: the first); `since`/`until` unused (provider.toml: no filter)."""
    params = {"limit": str(min(per_page or resource.page_size, MAX_LIMIT))} | ({"after": after} if after else {})
    path, what = resource.path.format(ad_account_id=account(call).removeprefix("act_")), f"listing {resource.name}"
    level = INSIGHTS.get(resource.name)
    if level is None:
        params["fields"] = FIELDS[resource.name]
        listed, cursor = cursor_page(await graph(call, "GET", path, what, params=params), TITLE, what)
        held = await currency(call) if listed else ""
        return Page(objects=[{**o, "account_currency": held} for o in listed if o.get("id")], next_cursor=cursor)
    params |= {
        "level": LEVELS[level][0],
        "time_increment": "1",
        "time_range": json.dumps(window(call), separators=(",", ":")),
        "fields": f"{_INSIGHT_IDS[level]},{INSIGHT_FIELDS}",
    }
    listed, cursor = cursor_page(await graph(call, "GET", path, what, params=params), TITLE, what)
    return Page(objects=[{"id": row_id(level, r), **r} for r in listed], next_cursor=cursor)


async def test_connection(call: ApiCall) -> None:
    """The ad account itself: refused when its id, the token or the scopes are wrong."""
    await currency(call)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # every run lists a resource whole: versions are the object's hash


def reconciles(resource: Resource, external_id: str) -> bool:
    """Campaigns, ad sets and ads a full listing misses are gone; past days' Insights rows stay true."""
    return resource.kind != "ad_performance"


async def pause_campaign(call: ApiCall, campaign_id: str) -> dict[str, Any]:
    """The `pause_campaign` action: `POST /{campaign_id}` with `status=PAUSED`, answered `{"success": true}`."""
    if not str(campaign_id).isdigit():
        raise ProviderRefused("pause_campaign: campaign_id must be a Meta campaign id (digits)")
    what = f"pausing campaign {campaign_id}"
    answer = await graph(call, "POST", str(campaign_id), what, data={"status": "PAUSED"})
    if answer.get("success") is not True:
        raise ProviderRefused(f"{TITLE} {what}: the answer is not a success")
    return {"id": str(campaign_id), "campaign_id": str(campaign_id), "status": "paused"}

"""Google Ads API (REST, v26), as a sync and the actions call it: one page of a GAQL query, and `pause_campaign`.

Requests: `POST {base}customers/{customer_id}/googleAds:search` `{"query": GAQL, "pageToken": ...}` with
`Authorization: Bearer` (connectors/providers/google_common/client.py: the shared Google OAuth2 client and errors),
`developer-token` (a credential) and, when access goes through a manager account, `login-customer-id`. The answer
`{"results": [...], "nextPageToken": ..., "fieldMask": ...}` pages by `nextPageToken` (the resources are
`pagination = "cursor"`: the token is the position the sync saves); Google fixes pages at 10,000 rows. Each row
becomes one object with `id` (mapping.row_id: the campaign's or ad group's id, or a performance row's
`{level}:{id}:{date}`), which the sync keys it by.

Performance queries ask `segments.date BETWEEN` the last `lookback_days` (config, default 30) and today (UTC, plus a
day: accounts ahead of UTC): conversions are restated for weeks, so every run reads the window again; rows older
than the window stay as they were (`reconciles` is False for them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import ApiCall, Page, ProviderRefused
from connectors.facts import Resource
from connectors.providers.google_ads.mapping import MAPPERS, row_id
from connectors.providers.google_common.client import api_base, digits, send

__all__ = ["MAPPERS", "cursor_of", "pause_campaign", "read_page", "reconciles", "test_connection"]

DEFAULT_LOOKBACK_DAYS = 30
_CUSTOMER = "customer.id, customer.currency_code"
QUERIES = {
    "campaigns": f"SELECT {_CUSTOMER}, campaign.id, campaign.resource_name, campaign.name, campaign.status, "
    "campaign.advertising_channel_type, campaign.bidding_strategy_type, campaign.start_date, campaign.end_date, "
    "campaign_budget.resource_name, campaign_budget.amount_micros FROM campaign ORDER BY campaign.id",
    "ad_groups": f"SELECT {_CUSTOMER}, campaign.id, ad_group.id, ad_group.resource_name, ad_group.name, "
    "ad_group.status, ad_group.type, ad_group.cpc_bid_micros FROM ad_group ORDER BY ad_group.id",
    "ads": f"SELECT {_CUSTOMER}, campaign.id, ad_group.id, ad_group_ad.status, ad_group_ad.ad.id, "
    "ad_group_ad.ad.name, ad_group_ad.ad.type, ad_group_ad.ad.final_urls, "
    "ad_group_ad.ad.responsive_search_ad.headlines, ad_group_ad.ad.responsive_search_ad.descriptions "
    "FROM ad_group_ad ORDER BY ad_group_ad.ad.id",
    "campaign_performance": f"SELECT {_CUSTOMER}, campaign.id, segments.date, metrics.impressions, metrics.clicks, "
    "metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM campaign "
    "WHERE segments.date BETWEEN '{since}' AND '{until}' ORDER BY segments.date, campaign.id",
    "ad_group_performance": f"SELECT {_CUSTOMER}, campaign.id, ad_group.id, segments.date, metrics.impressions, "
    "metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM ad_group "
    "WHERE segments.date BETWEEN '{since}' AND '{until}' ORDER BY segments.date, ad_group.id",
}


def _headers(call: ApiCall) -> dict[str, str]:
    token = str(call.secrets.get("developer_token") or "")
    if not token:
        raise ProviderRefused("Google Ads: the connector has no developer_token (Google Ads > API Center)")
    headers = {"developer-token": token}
    if call.config.get("login_customer_id"):
        headers["login-customer-id"] = digits(call.config["login_customer_id"], "login_customer_id")
    return headers


def _customer_url(call: ApiCall, method: str) -> str:
    return f"{api_base(call)}customers/{digits(call.config.get('customer_id'), 'customer_id')}/{method}"


def query_of(call: ApiCall, resource: str, today: datetime | None = None) -> str:
    """The GAQL of a resource; a performance query's window ends tomorrow (UTC) and starts lookback_days before."""
    day = (today or datetime.now(UTC)).date()
    lookback = int(call.config.get("lookback_days") or DEFAULT_LOOKBACK_DAYS)
    since, until = day - timedelta(days=max(1, lookback)), day + timedelta(days=1)
    return QUERIES[resource].replace("{since}", since.isoformat()).replace("{until}", until.isoformat())


async def search(call: ApiCall, query: str, page_token: str | None, what: str) -> tuple[list[dict], str | None]:
    body: dict[str, Any] = {"query": query} | ({"pageToken": page_token} if page_token else {})
    answer = await send(call, "POST", _customer_url(call, "googleAds:search"), what, _headers(call), json=body)
    results = answer.get("results") if isinstance(answer, dict) else None
    if results is not None and not isinstance(results, list):
        raise ProviderRefused(f"Google Ads {what}: `results` is not a list")
    following = answer.get("nextPageToken") if isinstance(answer, dict) else None
    return [r for r in results or [] if isinstance(r, dict)], (str(following) if following else None)


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The query's first page (`after` None) or the page its token `after` names. `since`/`until` are unused: no
    resource has a changed-since filter (provider.toml)."""
    rows, following = await search(call, query_of(call, resource.name), after, f"listing {resource.name}")
    return Page(objects=[{"id": row_id(resource.name, r), **r} for r in rows], next_cursor=following)


async def test_connection(call: ApiCall) -> None:
    """The account itself: refused when the ids, the developer token, the token or the scope are wrong."""
    await search(call, "SELECT customer.id, customer.currency_code FROM customer", None, "reading the account")


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return None  # rows carry no modification time: every run lists the resource whole


def reconciles(resource: Resource, external_id: str) -> bool:
    """Campaigns and ad groups a full listing misses are gone; past days' performance rows stay true."""
    return resource.kind != "ad_performance"


async def pause_campaign(call: ApiCall, campaign_id: str) -> dict[str, Any]:
    """The `pause_campaign` action: campaigns:mutate with one update operation setting status PAUSED."""
    if not str(campaign_id).isdigit():
        raise ProviderRefused("pause_campaign: campaign_id must be a Google Ads campaign id (digits)")
    customer = digits(call.config.get("customer_id"), "customer_id")
    name = f"customers/{customer}/campaigns/{campaign_id}"
    body = {"operations": [{"update": {"resourceName": name, "status": "PAUSED"}, "updateMask": "status"}]}
    what = f"pausing campaign {campaign_id}"
    answer = await send(call, "POST", _customer_url(call, "campaigns:mutate"), what, _headers(call), json=body)
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or not results or results[0].get("resourceName") != name:
        raise ProviderRefused(f"Google Ads {what}: the answer names no updated campaign")
    return {"id": str(campaign_id), "campaign_id": str(campaign_id), "resource_name": name, "status": "paused"}

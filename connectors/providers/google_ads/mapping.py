"""Google Ads rows (GAQL answers, JSON in camelCase: `{"campaign": {...}, "metrics": {...}, "segments": {...}}`) ->
ads entities: a campaign -> AdCampaign, an ad group -> AdGroup, an ad group's ad -> Ad (a responsive search ad's
headlines and descriptions as text), a campaign's or an ad group's day -> AdPerformance.

Statuses and channel types are Google's enum names in lower case (ENABLED -> enabled, SEARCH -> search); the names
as sent stay in provider_data. Money: `*_micros` (int64, sent as JSON strings) are millionths of the account's
currency (`customer.currencyCode`), converted to minor units exactly. Rows carry no modification time: the event's
time is the sync's (the sync keys each state by a hash of the row, so an unchanged row publishes nothing).
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, minor, opt_text, text
from connectors.providers.ads_common.mapping import upserters
from connectors.providers.google_common.micros import micros_minor, opt_micros_minor
from events.entities_ads import Ad, AdCampaign, AdGroup, AdPerformance, performance_id


def _lower(value: Any) -> str:
    return text(value).lower()


def _currency(row: dict[str, Any]) -> str:
    return text((row.get("customer") or {}).get("currencyCode")).upper()


def _account(row: dict[str, Any]) -> str:
    return text((row.get("customer") or {}).get("id"))


def campaign(row: dict[str, Any]) -> AdCampaign:
    c, budget, currency = row["campaign"], row.get("campaignBudget") or {}, _currency(row)
    amount = budget.get("amountMicros")
    return AdCampaign(
        name=text(c.get("name")),
        status=_lower(c.get("status")),
        objective=_lower(c.get("advertisingChannelType")),
        account_id=_account(row),
        currency=currency,
        daily_budget_minor=opt_micros_minor(amount, currency),
        start_date=opt_text(c.get("startDate")),
        end_date=opt_text(c.get("endDate")),
        provider_data=compact(
            resource_name=c.get("resourceName"),
            status=c.get("status"),
            advertising_channel_type=c.get("advertisingChannelType"),
            bidding_strategy_type=c.get("biddingStrategyType"),
            budget=budget.get("resourceName"),
        ),
    )


def ad_group(row: dict[str, Any]) -> AdGroup:
    g, currency = row["adGroup"], _currency(row)
    bid = g.get("cpcBidMicros")
    return AdGroup(
        name=text(g.get("name")),
        status=_lower(g.get("status")),
        campaign_external_id=text((row.get("campaign") or {}).get("id")),
        account_id=_account(row),
        type=_lower(g.get("type")),
        currency=currency,
        bid_minor=opt_micros_minor(bid, currency),
        provider_data=compact(resource_name=g.get("resourceName"), status=g.get("status"), type=g.get("type")),
    )


def _texts(assets: Any) -> list[str]:
    """A responsive ad's headlines or descriptions (AdTextAsset: `{"text", "pinnedField"}`) as their texts."""
    return [text(a.get("text")) for a in assets or [] if isinstance(a, dict) and a.get("text")]


def ad(row: dict[str, Any]) -> Ad:
    held, ad_ = row["adGroupAd"], row["adGroupAd"]["ad"]
    responsive = ad_.get("responsiveSearchAd") or {}
    urls = ad_.get("finalUrls") or []
    return Ad(
        name=text(ad_.get("name")),
        status=_lower(held.get("status")),
        ad_group_external_id=text((row.get("adGroup") or {}).get("id")),
        campaign_external_id=text((row.get("campaign") or {}).get("id")),
        account_id=_account(row),
        format=_lower(ad_.get("type")),
        headlines=_texts(responsive.get("headlines")),
        descriptions=_texts(responsive.get("descriptions")),
        final_url=opt_text(urls[0]) if urls else None,
        provider_data=compact(status=held.get("status"), type=ad_.get("type"), final_urls=urls[1:]),
    )


def performance(row: dict[str, Any], level: str) -> AdPerformance:
    metrics, currency = row.get("metrics") or {}, _currency(row)
    campaign_id = text((row.get("campaign") or {}).get("id"))
    object_id = campaign_id if level == "campaign" else text(row["adGroup"]["id"])
    value = metrics.get("conversionsValue")
    return AdPerformance(
        level=level,
        object_external_id=object_id,
        campaign_external_id=campaign_id or None,
        account_id=_account(row),
        date=text(row["segments"]["date"]),
        impressions=int(metrics.get("impressions") or 0),
        clicks=int(metrics.get("clicks") or 0),
        spend_minor=micros_minor(metrics.get("costMicros"), currency),
        currency=currency,
        conversions=float(metrics.get("conversions") or 0.0),
        conversion_value_minor=minor(value, currency) if value not in (None, "") else None,
    )


def row_id(resource: str, row: dict[str, Any]) -> str:
    """The external id of a row of this resource: the campaign's or ad group's id, or a performance row's
    `{level}:{id}:{date}`."""
    if resource == "campaigns":
        return text(row["campaign"]["id"])
    if resource == "ad_groups":
        return text(row["adGroup"]["id"])
    if resource == "ads":
        return text(row["adGroupAd"]["ad"]["id"])
    level = "campaign" if resource == "campaign_performance" else "ad_group"
    object_id = row["campaign"]["id"] if level == "campaign" else row["adGroup"]["id"]
    return performance_id(level, text(object_id), text(row["segments"]["date"]))


def upsert_performance(out: EventBuilder, row: dict[str, Any]) -> None:
    level = str(row["id"]).split(":", 1)[0]
    out.upsert("ad_performance", row["id"], None, performance(row, level))


MAPPERS = {**upserters(ad_campaign=campaign, ad_group=ad_group, ad=ad), "ad_performance": upsert_performance}

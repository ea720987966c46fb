"""Snapchat Marketing API objects (unwrapped from their `{"sub_request_status", "campaign": {...}}` envelopes by
api.py) -> ads entities: a campaign -> AdCampaign, an ad squad -> AdGroup, an ad -> Ad, a campaign's day of
stats -> AdPerformance.

Statuses: ACTIVE, PAUSED as the platform's words (enabled, paused); Snap's own stay in provider_data. Money: every
`*_micro` field and the stats' `spend` are micro-units (1,000,000 to a unit) of the ad account's currency, converted
exactly; the account's currency rides on each object as `account_currency` (api.py adds it). A stats day is the
date of its `start_time` in the ad account's time zone (Snap answers local midnights with their offset).
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import compact, text
from connectors.providers.ads_common.mapping import account_currency, local_date, status, upserters
from connectors.providers.google_common.micros import micros_minor, opt_micros_minor
from events.entities_ads import Ad, AdCampaign, AdGroup, AdPerformance, performance_id

STATUSES = {"ACTIVE": "enabled", "PAUSED": "paused"}
STATS_FIELDS = ("impressions", "swipes", "spend", "conversion_purchases", "conversion_purchases_value")


def campaign(c: dict[str, Any]) -> AdCampaign:
    currency = account_currency(c)
    return AdCampaign(
        name=text(c.get("name")),
        status=status(c.get("status"), STATUSES),
        objective=text(c.get("objective")).lower(),
        account_id=text(c.get("ad_account_id")),
        currency=currency,
        daily_budget_minor=opt_micros_minor(c.get("daily_budget_micro"), currency),
        start_date=local_date(c.get("start_time")),
        end_date=local_date(c.get("end_time")),
        provider_data=compact(
            status=c.get("status"),
            objective=c.get("objective"),
            lifetime_spend_cap_minor=opt_micros_minor(c.get("lifetime_spend_cap_micro"), currency),
            buy_model=c.get("buy_model"),
            updated_at=c.get("updated_at"),
        ),
    )


def ad_squad(s: dict[str, Any]) -> AdGroup:
    currency = account_currency(s)
    return AdGroup(
        name=text(s.get("name")),
        status=status(s.get("status"), STATUSES),
        campaign_external_id=text(s.get("campaign_id")),
        account_id=text(s.get("ad_account_id")),
        type=text(s.get("type")).lower(),
        currency=currency,
        bid_minor=opt_micros_minor(s.get("bid_micro"), currency),
        provider_data=compact(
            status=s.get("status"),
            billing_event=s.get("billing_event"),
            optimization_goal=s.get("optimization_goal"),
            daily_budget_minor=opt_micros_minor(s.get("daily_budget_micro"), currency),
            updated_at=s.get("updated_at"),
        ),
    )


def ad(a: dict[str, Any]) -> Ad:
    return Ad(
        name=text(a.get("name")),
        status=status(a.get("status"), STATUSES),
        ad_group_external_id=text(a.get("ad_squad_id")),
        account_id=text(a.get("ad_account_id")),
        format=text(a.get("type")).lower(),
        provider_data=compact(
            status=a.get("status"),
            creative_id=a.get("creative_id"),
            review_status=a.get("review_status"),
            updated_at=a.get("updated_at"),
        ),
    )


def performance(row: dict[str, Any]) -> AdPerformance:
    """One day of a campaign's timeseries stats: `{"campaign_id", "start_time", "stats": {...}}` (api.py)."""
    currency, stats = account_currency(row), row.get("stats") or {}
    value = stats.get("conversion_purchases_value")
    return AdPerformance(
        level="campaign",
        object_external_id=text(row.get("campaign_id")),
        campaign_external_id=text(row.get("campaign_id")),
        account_id=text(row.get("ad_account_id")),
        date=text(local_date(row.get("start_time"))),
        impressions=int(stats.get("impressions") or 0),
        clicks=int(stats.get("swipes") or 0),  # a swipe up is Snap's click
        spend_minor=micros_minor(stats.get("spend"), currency),
        currency=currency,
        conversions=float(stats.get("conversion_purchases") or 0.0),
        conversion_value_minor=opt_micros_minor(value, currency),
    )


def row_id(row: dict[str, Any]) -> str:
    return performance_id("campaign", text(row.get("campaign_id")), text(local_date(row.get("start_time"))))


MAPPERS = upserters(ad_campaign=campaign, ad_group=ad_squad, ad=ad, ad_performance=performance)

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

from connectors.normalize import EventBuilder, compact, opt_text, text
from connectors.providers.google_common.micros import micros_minor
from events.entities_ads import Ad, AdCampaign, AdGroup, AdPerformance, performance_id

STATUSES = {"ACTIVE": "enabled", "PAUSED": "paused"}
STATS_FIELDS = ("impressions", "swipes", "spend", "conversion_purchases", "conversion_purchases_value")


def _status(value: Any) -> str:
    return STATUSES.get(text(value), text(value).lower())


def _currency(obj: dict[str, Any]) -> str:
    return text(obj.get("account_currency")).upper()


def _micros(value: Any, currency: str) -> int | None:
    return micros_minor(value, currency) if value not in (None, "") else None


def _date(value: Any) -> str | None:
    return opt_text(value)[:10] if value else None


def campaign(c: dict[str, Any]) -> AdCampaign:
    currency = _currency(c)
    return AdCampaign(
        name=text(c.get("name")),
        status=_status(c.get("status")),
        objective=text(c.get("objective")).lower(),
        account_id=text(c.get("ad_account_id")),
        currency=currency,
        daily_budget_minor=_micros(c.get("daily_budget_micro"), currency),
        start_date=_date(c.get("start_time")),
        end_date=_date(c.get("end_time")),
        provider_data=compact(
            status=c.get("status"),
            objective=c.get("objective"),
            lifetime_spend_cap_minor=_micros(c.get("lifetime_spend_cap_micro"), currency),
            buy_model=c.get("buy_model"),
            updated_at=c.get("updated_at"),
        ),
    )


def ad_squad(s: dict[str, Any]) -> AdGroup:
    currency = _currency(s)
    return AdGroup(
        name=text(s.get("name")),
        status=_status(s.get("status")),
        campaign_external_id=text(s.get("campaign_id")),
        account_id=text(s.get("ad_account_id")),
        type=text(s.get("type")).lower(),
        currency=currency,
        bid_minor=_micros(s.get("bid_micro"), currency),
        provider_data=compact(
            status=s.get("status"),
            billing_event=s.get("billing_event"),
            optimization_goal=s.get("optimization_goal"),
            daily_budget_minor=_micros(s.get("daily_budget_micro"), currency),
            updated_at=s.get("updated_at"),
        ),
    )


def ad(a: dict[str, Any]) -> Ad:
    return Ad(
        name=text(a.get("name")),
        status=_status(a.get("status")),
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
    currency, stats = _currency(row), row.get("stats") or {}
    value = stats.get("conversion_purchases_value")
    return AdPerformance(
        level="campaign",
        object_external_id=text(row.get("campaign_id")),
        campaign_external_id=text(row.get("campaign_id")),
        account_id=text(row.get("ad_account_id")),
        date=text(_date(row.get("start_time"))),
        impressions=int(stats.get("impressions") or 0),
        clicks=int(stats.get("swipes") or 0),  # a swipe up is Snap's click
        spend_minor=micros_minor(stats.get("spend"), currency),
        currency=currency,
        conversions=float(stats.get("conversion_purchases") or 0.0),
        conversion_value_minor=_micros(value, currency),
    )


def row_id(row: dict[str, Any]) -> str:
    return performance_id("campaign", text(row.get("campaign_id")), text(_date(row.get("start_time"))))


def upsert_campaign(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("ad_campaign", c["id"], None, campaign(c))


def upsert_ad_squad(out: EventBuilder, s: dict[str, Any]) -> None:
    out.upsert("ad_group", s["id"], None, ad_squad(s))


def upsert_ad(out: EventBuilder, a: dict[str, Any]) -> None:
    out.upsert("ad", a["id"], None, ad(a))


def upsert_performance(out: EventBuilder, row: dict[str, Any]) -> None:
    out.upsert("ad_performance", row["id"], None, performance(row))


MAPPERS = {
    "ad_campaign": upsert_campaign,
    "ad_group": upsert_ad_squad,
    "ad": upsert_ad,
    "ad_performance": upsert_performance,
}

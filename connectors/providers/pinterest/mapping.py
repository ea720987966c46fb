"""Pinterest API v5 objects -> entities: a campaign -> AdCampaign, an ad group -> AdGroup, an ad (a promoted pin)
-> Ad, a pin -> Post (`post`: a piece of published content, as a WordPress post), a campaign's analytics day ->
AdPerformance.

Statuses: ACTIVE, PAUSED, ARCHIVED as the platform's words (enabled, paused, archived); Pinterest's own stay in
provider_data. Money: `*_micro_currency`, `daily_spend_cap` and `SPEND_IN_MICRO_DOLLAR` are micro-units (1,000,000
to a unit) of the ad account's currency whatever their name, converted exactly. The account's currency rides on each
object as `account_currency` (api.py adds it). Times: unix seconds (campaigns, ad groups) and ISO 8601 (pins).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.normalize import compact, opt_text, text, utc_time
from connectors.providers.ads_common.mapping import account_currency, status, upserters
from connectors.providers.google_common.micros import micros_minor, opt_micros_minor
from events.entities import Post
from events.entities_ads import Ad, AdCampaign, AdGroup, AdPerformance, performance_id

STATUSES = {"ACTIVE": "enabled", "PAUSED": "paused", "ARCHIVED": "archived"}
METRICS = ("SPEND_IN_MICRO_DOLLAR", "IMPRESSION_1", "CLICKTHROUGH_1", "TOTAL_CONVERSIONS",
           "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR")  # fmt: skip


def _day(seconds: Any) -> str | None:
    return datetime.fromtimestamp(int(seconds), UTC).date().isoformat() if seconds not in (None, "") else None


def campaign(c: dict[str, Any]) -> AdCampaign:
    currency = account_currency(c)
    return AdCampaign(
        name=text(c.get("name")),
        status=status(c.get("status"), STATUSES),
        objective=text(c.get("objective_type")).lower(),
        account_id=text(c.get("ad_account_id")),
        currency=currency,
        daily_budget_minor=opt_micros_minor(c.get("daily_spend_cap"), currency),
        start_date=_day(c.get("start_time")),
        end_date=_day(c.get("end_time")),
        provider_data=compact(
            status=c.get("status"),
            objective_type=c.get("objective_type"),
            lifetime_spend_cap_minor=opt_micros_minor(c.get("lifetime_spend_cap"), currency),
            updated_time=c.get("updated_time"),
        ),
    )


def ad_group(g: dict[str, Any]) -> AdGroup:
    currency = account_currency(g)
    return AdGroup(
        name=text(g.get("name")),
        status=status(g.get("status"), STATUSES),
        campaign_external_id=text(g.get("campaign_id")),
        account_id=text(g.get("ad_account_id")),
        type=text(g.get("billable_event")).lower(),
        currency=currency,
        bid_minor=opt_micros_minor(g.get("bid_in_micro_currency"), currency),
        provider_data=compact(
            status=g.get("status"),
            budget_minor=opt_micros_minor(g.get("budget_in_micro_currency"), currency),
            budget_type=g.get("budget_type"),
            updated_time=g.get("updated_time"),
        ),
    )


def ad(a: dict[str, Any]) -> Ad:
    return Ad(
        name=text(a.get("name")),
        status=status(a.get("status"), STATUSES),
        ad_group_external_id=text(a.get("ad_group_id")),
        campaign_external_id=text(a.get("campaign_id")),
        account_id=text(a.get("ad_account_id")),
        format=text(a.get("creative_type")).lower(),
        final_url=opt_text(a.get("destination_url")),
        provider_data=compact(
            status=a.get("status"),
            pin_id=a.get("pin_id"),
            review_status=a.get("review_status"),
            updated_time=a.get("updated_time"),
        ),
    )


def pin(p: dict[str, Any]) -> Post:
    created = opt_text(p.get("created_at"))
    return Post(
        title=text(p.get("title")),
        status="published",
        content=text(p.get("description")),
        excerpt=text(p.get("alt_text")),
        url=opt_text(p.get("link")),
        published_at=utc_time(created) if created else None,
        provider_data=compact(
            board_id=p.get("board_id"),
            media_type=(p.get("media") or {}).get("media_type"),
            creative_type=p.get("creative_type"),
        ),
    )


def performance(row: dict[str, Any]) -> AdPerformance:
    """One row of campaigns/analytics with granularity=DAY: a campaign on one day."""
    currency = account_currency(row)
    value = row.get("TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR")
    return AdPerformance(
        level="campaign",
        object_external_id=text(row.get("CAMPAIGN_ID")),
        campaign_external_id=text(row.get("CAMPAIGN_ID")),
        account_id=text(row.get("AD_ACCOUNT_ID")),
        date=text(row.get("DATE")),
        impressions=int(row.get("IMPRESSION_1") or 0),
        clicks=int(row.get("CLICKTHROUGH_1") or 0),
        spend_minor=micros_minor(row.get("SPEND_IN_MICRO_DOLLAR"), currency),
        currency=currency,
        conversions=float(row.get("TOTAL_CONVERSIONS") or 0.0),
        conversion_value_minor=opt_micros_minor(value, currency),
    )


def row_id(row: dict[str, Any]) -> str:
    return performance_id("campaign", text(row.get("CAMPAIGN_ID")), text(row.get("DATE")))


MAPPERS = upserters(ad_campaign=campaign, ad_group=ad_group, ad=ad, post=pin, ad_performance=performance)

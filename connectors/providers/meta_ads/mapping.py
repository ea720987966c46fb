"""Meta Marketing API objects -> ads entities: a campaign -> AdCampaign, an ad set -> AdGroup, an ad -> Ad (its
creative's title, body and link), an Insights row (one object on one day) -> AdPerformance.

Statuses: Meta's `status` (ACTIVE, PAUSED, DELETED, ARCHIVED) as the platform's words (enabled, paused, removed,
archived); `effective_status` (what delivery does, e.g. CAMPAIGN_PAUSED) and the names as sent stay in provider_data.
Money: budgets and bids are integers in the account currency's minor units already (Meta: "in the smallest unit");
Insights' `spend` is a decimal string in the account currency, converted exactly. Conversions are the sum of the
`actions` whose action_type the connector counts (config `conversion_actions`, default purchase and lead), their
value the matching `action_values`. The account's currency rides on each object as `account_currency` (Insights
rows carry it; api.py adds it to the others from the ad account).
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, minor, minor_units, opt_text, text
from connectors.providers.ads_common.mapping import account_currency, local_date, status, upserters
from events.entities_ads import Ad, AdCampaign, AdGroup, AdPerformance, performance_id

STATUSES = {"ACTIVE": "enabled", "PAUSED": "paused", "DELETED": "removed", "ARCHIVED": "archived"}
DEFAULT_CONVERSIONS = ("purchase", "lead")
# AdPerformance.level -> the Insights `level` Meta calls it and the row's id field
LEVELS = {"campaign": ("campaign", "campaign_id"), "ad_group": ("adset", "adset_id"), "ad": ("ad", "ad_id")}


def _amount(value: Any) -> int | None:
    return minor_units(int(value)) if value not in (None, "") else None


def campaign(c: dict[str, Any]) -> AdCampaign:
    return AdCampaign(
        name=text(c.get("name")),
        status=status(c.get("status"), STATUSES),
        objective=text(c.get("objective")).lower(),
        account_id=text(c.get("account_id")),
        currency=account_currency(c),
        daily_budget_minor=_amount(c.get("daily_budget")),
        start_date=local_date(c.get("start_time")),
        end_date=local_date(c.get("stop_time")),
        provider_data=compact(
            status=c.get("status"),
            effective_status=c.get("effective_status"),
            objective=c.get("objective"),
            lifetime_budget_minor=_amount(c.get("lifetime_budget")),
            buying_type=c.get("buying_type"),
            updated_time=c.get("updated_time"),
        ),
    )


def ad_set(s: dict[str, Any]) -> AdGroup:
    return AdGroup(
        name=text(s.get("name")),
        status=status(s.get("status"), STATUSES),
        campaign_external_id=text(s.get("campaign_id")),
        account_id=text(s.get("account_id")),
        type=text(s.get("optimization_goal")).lower(),
        currency=account_currency(s),
        bid_minor=_amount(s.get("bid_amount")),
        provider_data=compact(
            status=s.get("status"),
            effective_status=s.get("effective_status"),
            billing_event=s.get("billing_event"),
            daily_budget_minor=_amount(s.get("daily_budget")),
            updated_time=s.get("updated_time"),
        ),
    )


def ad(a: dict[str, Any]) -> Ad:
    creative = a.get("creative") or {}
    return Ad(
        name=text(a.get("name")),
        status=status(a.get("status"), STATUSES),
        ad_group_external_id=text(a.get("adset_id")),
        campaign_external_id=text(a.get("campaign_id")),
        account_id=text(a.get("account_id")),
        format=text(creative.get("object_type")).lower(),
        headlines=[text(creative["title"])] if creative.get("title") else [],
        descriptions=[text(creative["body"])] if creative.get("body") else [],
        final_url=opt_text(creative.get("link_url")),
        provider_data=compact(
            status=a.get("status"),
            effective_status=a.get("effective_status"),
            creative_id=creative.get("id"),
            updated_time=a.get("updated_time"),
        ),
    )


def _counted(actions: Any, types: tuple[str, ...]) -> list[str]:
    return [text(a.get("value")) for a in actions or [] if isinstance(a, dict) and a.get("action_type") in types]


def conversion_types(config: Any) -> tuple[str, ...]:
    named = [t.strip() for t in str(config.get("conversion_actions") or "").split(",") if t.strip()]
    return tuple(named) or DEFAULT_CONVERSIONS


def performance(row: dict[str, Any], level: str, types: tuple[str, ...] = DEFAULT_CONVERSIONS) -> AdPerformance:
    """One Insights row at `level` (ours: campaign, ad_group, ad) with time_increment=1: one object on one day."""
    id_field = LEVELS[level][1]
    currency = account_currency(row)
    values = _counted(row.get("action_values"), types)
    return AdPerformance(
        level=level,
        object_external_id=text(row.get(id_field)),
        campaign_external_id=opt_text(row.get("campaign_id")),
        account_id=text(row.get("account_id")),
        date=text(row.get("date_start")),
        impressions=int(row.get("impressions") or 0),
        clicks=int(row.get("clicks") or 0),
        spend_minor=minor(row.get("spend") or "0", currency),
        currency=currency,
        conversions=sum(float(v) for v in _counted(row.get("actions"), types)),
        conversion_value_minor=sum(minor(v, currency) for v in values) if values else None,
    )


def row_id(level: str, row: dict[str, Any]) -> str:
    return performance_id(level, text(row.get(LEVELS[level][1])), text(row.get("date_start")))


def upsert_performance(out: EventBuilder, row: dict[str, Any]) -> None:
    """A row api.py read, its `id` performance_id's (`{level}:{id}:{date}`)."""
    level = str(row["id"]).split(":", 1)[0]
    out.upsert("ad_performance", row["id"], None, performance(row, level, conversion_types(out.ctx.config)))


MAPPERS = {**upserters(ad_campaign=campaign, ad_group=ad_set, ad=ad), "ad_performance": upsert_performance}

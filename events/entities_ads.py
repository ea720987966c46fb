"""Provider-neutral entities of advertising, web analytics, tag management and merchant feeds (issue 13).

Shared by every ad platform (Google Ads now; Meta, Pinterest and Snapchat later): their words differ (an ad group is
Meta's ad set and Snapchat's ad squad; a campaign's objective is Google's advertising channel type), so each field
says what it means, values a provider names its own way are lower-case here (`enabled`, `paused`, `removed`), and the
provider's own value stays in provider_data. Money is integer minor units with an ISO 4217 currency (an ad platform's
micros are converted by the mapping); a day is a date string (YYYY-MM-DD) in the ad account's time zone, as every ad
platform reports it. Every field has a default, as in events/entities.py.

The event kinds (events/types.py): ad_campaign, ad_group, ad, ad_performance (`ads.*`), report_row (`analytics.*`),
tagmanager_container/_tag/_trigger/_variable (`tagmanager.*`), product_status (`merchant.*`).
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from events.entities import Entity

# the levels a performance row is reported at (AdPerformance.level)
PERFORMANCE_LEVELS = ("account", "campaign", "ad_group", "ad")


def performance_id(level: str, object_id: str, date: str) -> str:
    """The external id of one performance row: `{level}:{id}:{date}` (`campaign:123:2026-01-31`). Deterministic, so
    a day reported again (conversions are restated for weeks) replaces its row instead of adding one."""
    if level not in PERFORMANCE_LEVELS:
        raise ValueError(f"performance level {level!r} is not one of {PERFORMANCE_LEVELS}")
    return f"{level}:{object_id}:{date}"


class AdCampaign(Entity, frozen=True, kw_only=True):
    """An advertising campaign on an ad platform (not `marketing.campaign`: a message sent to a contact list)."""

    name: str = ""
    status: str = ""  # enabled, paused, removed (lower-case; the platform's own in provider_data)
    objective: str = ""  # what it buys: search, display, video, shopping, traffic, conversions ... (lower-case)
    account_id: str = ""  # the ad account (a Google Ads customer id, a Meta ad account id)
    currency: str = ""  # the ad account's
    daily_budget_minor: int | None = None
    start_date: str | None = None  # YYYY-MM-DD
    end_date: str | None = None


class AdGroup(Entity, frozen=True, kw_only=True):
    """A set of ads in a campaign sharing targeting and bids (Google's ad group, Meta's ad set, Snapchat's squad)."""

    name: str = ""
    status: str = ""
    campaign_external_id: str = ""
    account_id: str = ""
    type: str = ""  # the platform's kind of group, lower-case (search_standard, display_standard ...)
    currency: str = ""
    bid_minor: int | None = None  # the default bid per click (or per thousand impressions), where it has one


class Ad(Entity, frozen=True, kw_only=True):
    """One creative shown to people."""

    name: str = ""
    status: str = ""
    ad_group_external_id: str = ""
    campaign_external_id: str = ""
    account_id: str = ""
    format: str = ""  # responsive_search_ad, image, video, pin ... (lower-case)
    headlines: list[str] = []
    descriptions: list[str] = []
    final_url: str | None = None


class AdPerformance(Entity, frozen=True, kw_only=True):
    """What one campaign, ad group or ad (or the whole account) did on one day. External id: performance_id."""

    level: str = ""  # one of PERFORMANCE_LEVELS
    object_external_id: str = ""  # the campaign's, ad group's or ad's id (the account's for level account)
    campaign_external_id: str | None = None
    account_id: str = ""
    date: str = ""  # YYYY-MM-DD in the ad account's time zone
    impressions: int = 0
    clicks: int = 0
    spend_minor: int = 0
    currency: str = ""
    conversions: float = 0.0  # platforms attribute fractions of a conversion
    conversion_value_minor: int | None = None


class ReportRow(Entity, frozen=True, kw_only=True):
    """One row of a web-analytics report (GA4's runReport): its dimensions and metrics by name, as the report asked
    them. External id: the report's name and the row's dimension values (stable while the row means the same)."""

    report: str = ""  # the report's name (a connector may run several)
    property_id: str = ""  # the analytics property
    date: str | None = None  # YYYY-MM-DD, when the report is by date
    dimensions: dict[str, str] = {}
    metrics: dict[str, float] = {}


class TagContainer(Entity, frozen=True, kw_only=True):
    """A tag manager's container: the snippet a site or app loads."""

    name: str = ""
    account_id: str = ""
    public_id: str = ""  # GTM-XXXXXXX
    usage_context: list[str] = []  # web, android, ios, server ...
    domains: list[str] = []
    live_version_id: str | None = None  # the published version, where the sync knows it


class TagManagerItem(Entity, frozen=True, kw_only=True):
    """A tag, trigger or variable of a container's workspace (the event's subject kind says which)."""

    name: str = ""
    type: str = ""  # the tag manager's type: html, gaawe, pageview, customEvent, v (data layer variable) ...
    container_external_id: str = ""
    workspace_id: str = ""
    account_id: str = ""
    paused: bool = False  # tags only
    firing_trigger_ids: list[str] = []  # tags only
    parameters: dict[str, Any] = {}  # the item's settings by key (templates, ids), as the tag manager lists them


class ProductIssue(Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str = ""
    severity: str = ""  # error (disapproves), warning (demotes), suggestion
    description: str = ""
    attribute: str | None = None  # the product attribute at fault, where named
    destination: str | None = None


class DestinationStatus(Struct, frozen=True, kw_only=True, omit_defaults=True):
    destination: str = ""  # Shopping ads, free listings ...
    status: str = ""  # approved, disapproved, pending
    countries: list[str] = []  # where it has that status (ISO 3166-1 alpha-2)


class ProductStatus(Entity, frozen=True, kw_only=True):
    """Whether a merchant feed's product may be shown, where, and what stops it (Google Merchant Center)."""

    product_external_id: str = ""  # the feed's product id (online:en:US:SKU1)
    offer_id: str = ""  # the merchant's own id (the SKU)
    title: str = ""
    link: str | None = None
    approved: bool = False  # approved for at least one destination somewhere
    destinations: list[DestinationStatus] = []
    issues: list[ProductIssue] = []
    expires: str | None = None  # RFC 3339: when the product expires unless updated

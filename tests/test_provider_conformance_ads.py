"""The conformance suite (tests/provider_conformance.py) for the ad and analytics platforms: Google's APIs, and the
ad platforms whose stats resources report a row per campaign (ad set, ad) and day. The other providers' cases, and
the check that every provider package has one, are in tests/test_provider_conformance.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from google_support import api_call, point_at
from provider_conformance import ProviderConformance, SignedVector, body_file_vectors
from providers.google_ads_server import GoogleAds
from providers.google_analytics_server import GoogleAnalytics, iso
from providers.google_merchant_server import GoogleMerchant
from providers.google_tag_manager_server import TagManager
from providers.meta_ads_server import VERSION as META_VERSION
from providers.meta_ads_server import MetaAds
from providers.pinterest_server import VERSION as PINTEREST_VERSION
from providers.pinterest_server import PinterestAds
from providers.snapchat_server import VERSION as SNAPCHAT_VERSION
from providers.snapchat_server import SnapchatAds
from sync_support import access_tokens

from connectors.base import ApiCall
from connectors.facts import Action, Resource
from connectors.providers.meta_ads import api as meta_ads_api
from connectors.providers.pinterest import api as pinterest_api
from connectors.providers.snapchat import api as snapchat_api

HUB_HEADER = "X-Hub-Signature-256"


class GoogleCase(ProviderConformance):
    """A Google API: the shared client's API root points at the local server, calls carry a fresh access token."""

    def prepare(self, server: Any, monkeypatch) -> None:
        point_at(server, monkeypatch)


class TestGoogleAds(GoogleCase):
    provider = "google-ads"

    def new_server(self) -> GoogleAds:
        return GoogleAds(rows_per_page=100)  # Google fixes pages at 10,000 rows; the suite's pages hold 100 at most

    def call(self, server: GoogleAds) -> ApiCall:
        config = {"customer_id": server.customer_id}
        return api_call(server, self.provider, config, developer_token=server.developer_token)

    def seed(self, server: GoogleAds, resource: Resource, count: int) -> None:
        if resource.name in ("campaigns", "ad_groups", "ads"):
            server.seed(**{resource.name: count})
            return
        server.seed(campaigns=max(0, count - len(server.campaigns)), ad_groups=max(0, count - len(server.ad_groups)))
        server.seed(days=1)  # a row per campaign and per ad group today

    def action_input(self, server: GoogleAds, action: Action) -> dict[str, Any]:
        assert action.name == "pause_campaign"
        return {"campaign_id": server.seed(campaigns=1)[0]}

    def action_applied(self, server: GoogleAds, action: Action, input: dict, result: dict) -> bool:
        return server.campaigns[input["campaign_id"]]["campaign.status"] == "PAUSED" == result["status"].upper()


class TestGoogleAnalytics(GoogleCase):
    provider = "google-analytics"
    server_type = GoogleAnalytics

    def call(self, server: GoogleAnalytics) -> ApiCall:
        return api_call(server, self.provider, {"property_id": server.property_id, "lookback_days": 90})

    def seed(self, server: GoogleAnalytics, resource: Resource, count: int) -> None:
        server.seed(days=-(-count // 6))  # six channels a day: a row per day and channel

    def server_ids(self, server: GoogleAnalytics, resource: Resource) -> list[str]:
        today = datetime.now(UTC).date()
        rows = server.rows(["date", "sessionDefaultChannelGroup"], ["sessions"], today - timedelta(days=90), today)
        return [f"traffic:{iso(day)}:{channel}" for day, channel in (r["key"] for r in rows)]

    def action_input(self, server: GoogleAnalytics, action: Action) -> dict[str, Any]:
        assert action.name == "create_key_event"
        return {"event_name": "purchase", "counting_method": "ONCE_PER_SESSION"}

    def action_applied(self, server: GoogleAnalytics, action: Action, input: dict, result: dict) -> bool:
        made = server.key_events["purchase"]
        return made["countingMethod"] == "ONCE_PER_SESSION" and result["id"] == made["name"]


class TestGoogleMerchant(GoogleCase):
    provider = "google-merchant"
    server_type = GoogleMerchant

    def call(self, server: GoogleMerchant) -> ApiCall:
        config = {"account_id": server.account_id, "data_source_id": server.data_source_id}
        return api_call(server, self.provider, config)

    def seed(self, server: GoogleMerchant, resource: Resource, count: int) -> None:
        server.seed(max(0, count - len(server.products)))  # both resources list the one set of products

    def server_ids(self, server: GoogleMerchant, resource: Resource) -> list[str]:
        return server.ids()

    def action_input(self, server: GoogleMerchant, action: Action) -> dict[str, Any]:
        assert action.name == "set_availability"
        (key,) = server.seed(1)
        return {"offer_id": server.products[key]["offerId"], "availability": "OUT_OF_STOCK"}

    def action_applied(self, server: GoogleMerchant, action: Action, input: dict, result: dict) -> bool:
        return server.products[result["id"]]["productAttributes"]["availability"] == "OUT_OF_STOCK"


class TestGoogleTagManager(GoogleCase):
    provider = "google-tag-manager"

    def new_server(self) -> TagManager:
        return TagManager(page_size=100)

    def call(self, server: TagManager) -> ApiCall:
        if not server.containers:
            server.container()
        config = {"account_id": server.account_id, "container_id": next(iter(server.containers))}
        return api_call(server, self.provider, config)

    def action_input(self, server: TagManager, action: Action) -> dict[str, Any]:
        assert action.name == "publish_workspace"
        server.seed(tags=2)
        return {"name": "Consent banner", "notes": "published by BizOSaaS"}

    def action_applied(self, server: TagManager, action: Action, input: dict, result: dict) -> bool:
        container = next(iter(server.containers))
        version = server.versions[container][server.live[container]]
        return version["name"] == input["name"] and result["id"] == version["containerVersionId"]


class AdPlatformCase(ProviderConformance):
    """An ad platform on an OAuth access token: objects listed per resource name, stats resources a row per object
    (of `stats_of`) and day, and `pause_campaign`."""

    stats_of: ClassVar[dict[str, str]]  # stats resource -> the objects it reports on

    def account(self, server: Any) -> str:
        return server.ad_account_id

    def call(self, server: Any) -> ApiCall:
        return ApiCall(self.facts, {"ad_account_id": self.account(server)}, access_tokens(server), allow_private=True)

    def seed(self, server: Any, resource: Resource, count: int) -> None:
        if resource.name not in self.stats_of:
            server.seed(**{resource.name: count})
            return
        objects = self.stats_of[resource.name]
        server.seed(**{objects: max(0, count - len(server.objects[objects]))})
        server.seed(days=1)  # a row per object today

    def action_input(self, server: Any, action: Action) -> dict[str, Any]:
        assert action.name == "pause_campaign"
        return {"campaign_id": server.seed(campaigns=1)[0]}

    def action_applied(self, server: Any, action: Action, input: dict, result: dict) -> bool:
        return server.objects["campaigns"][input["campaign_id"]]["status"] == "PAUSED" == result["status"].upper()


class TestMetaAds(AdPlatformCase):
    provider = "meta-ads"
    server_type = MetaAds
    api_base = (meta_ads_api, f"/{META_VERSION}/")
    stats_of = {"campaign_insights": "campaigns", "adset_insights": "adsets", "ad_insights": "ads"}

    def account(self, server: MetaAds) -> str:
        return f"act_{server.account_id}"

    def action_input(self, server: MetaAds, action: Action) -> dict[str, Any]:
        assert action.name == "pause_campaign"
        server.seed(campaigns=2)
        return {"campaign_id": server.ids("campaigns")[-2]}  # an ACTIVE one

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(self.provider, lambda v: {HUB_HEADER: v[f"expected_{HUB_HEADER}"]}, "app_secret")


class TestPinterest(AdPlatformCase):
    provider = "pinterest"
    server_type = PinterestAds
    api_base = (pinterest_api, f"/{PINTEREST_VERSION}/")
    stats_of = {"campaign_analytics": "campaigns"}


class TestSnapchat(AdPlatformCase):
    provider = "snapchat"
    server_type = SnapchatAds
    api_base = (snapchat_api, f"/{SNAPCHAT_VERSION}/")
    stats_of = {"campaign_stats": "campaigns"}

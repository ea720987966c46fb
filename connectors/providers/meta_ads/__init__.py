"""Meta (Facebook) Ads: OAuth2 (Facebook Login), campaigns, ad sets, ads and their daily Insights read from the
Marketing API (api.py, mapping.py), ad account webhooks as hints to sync (webhook.py, with Meta's signature and
hub.challenge check from meta_common/), and the `pause_campaign` action. PROVIDER is what the registry finds."""

from connectors.providers.meta_ads.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

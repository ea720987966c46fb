"""Google Ads: OAuth2 (the shared Google client, connectors/providers/google_common/), campaigns, ad groups, ads and
their daily performance read by GAQL (api.py, mapping.py), and the `pause_campaign` action. Google Ads sends no
webhooks. PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks("google-ads", "Google Ads sends no webhooks; its data is read by scheduled GAQL queries")

__all__ = ["PROVIDER"]

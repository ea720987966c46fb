"""Pinterest Ads (API v5): OAuth2 (HTTP Basic at the token endpoint), campaigns, ad groups, ads, the account's pins
and campaigns' daily analytics (api.py, mapping.py), and the `pause_campaign` action. Pinterest sends no webhooks
for ads. PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks("pinterest", "Pinterest sends no webhooks for ads or pins; its data is read by scheduled syncs")

__all__ = ["PROVIDER"]

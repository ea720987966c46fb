"""Snapchat Ads (Marketing API v1): OAuth2, campaigns, ad squads, ads and campaigns' daily stats (api.py,
mapping.py), and the `pause_campaign` action. Snap sends no webhooks. PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks("snapchat", "Snapchat's Marketing API sends no webhooks; its data is read by scheduled syncs")

__all__ = ["PROVIDER"]

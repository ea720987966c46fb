"""Google Analytics 4: OAuth2 (the shared Google client, connectors/providers/google_common/), a configurable report
read by the Data API's runReport (api.py, mapping.py), and the `create_key_event` action (the Admin API). Google
Analytics sends no webhooks. PROVIDER is what the registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks("google-analytics", "Google Analytics sends no webhooks; its reports are read on a schedule")

__all__ = ["PROVIDER"]

"""Google Merchant Center: OAuth2 (the shared Google client, connectors/providers/google_common/), its products and
their statuses read by the Merchant API (api.py, mapping.py), and the `set_availability` action. Merchant API
notifications are not received yet (docs/decisions.md): changes arrive by the scheduled syncs. PROVIDER is what the
registry finds."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks(
    "google-merchant", "Merchant Center notifications are not received yet; products sync on the schedule"
)

__all__ = ["PROVIDER"]

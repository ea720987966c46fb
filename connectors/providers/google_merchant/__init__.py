"""Google Merchant Center: OAuth2 (the shared Google client, connectors/providers/google_common/), its products and
their statuses read by the Merchant API (api.py, mapping.py), the `set_availability` action, and Merchant API
notifications taken as hints that ask for a sync (webhook.py; the subscription the set-up makes through api.py
`register_webhooks`). PROVIDER is what the registry finds."""

from connectors.providers.google_merchant.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

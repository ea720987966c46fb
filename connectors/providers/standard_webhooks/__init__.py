"""Standard Webhooks (any sender implementing the specification): webhook.py (webhook-id/-timestamp/-signature,
v1 HMAC and v1a ed25519), mapping.py (`data` -> the entity its type names). PROVIDER is what the registry finds."""

from connectors.providers.standard_webhooks.webhook import StandardWebhooksProvider

PROVIDER = StandardWebhooksProvider()

__all__ = ["PROVIDER", "StandardWebhooksProvider"]

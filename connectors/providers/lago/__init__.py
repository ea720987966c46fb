"""Lago (the platform's own billing): webhook.py (X-Lago-Signature in hmac mode, webhook types, delivery ids),
mapping.py (customers, subscriptions, invoices -> entities), api.py (the sync's pages and `record_usage`). PROVIDER is
what the registry finds."""

from connectors.providers.lago.webhook import LagoProvider

PROVIDER = LagoProvider()

__all__ = ["PROVIDER", "LagoProvider"]

"""Shopify: webhook.py (signature, topics, delivery ids), mapping.py (Admin API resources -> entities). PROVIDER is
what the registry finds."""

from connectors.providers.shopify.webhook import ShopifyProvider

PROVIDER = ShopifyProvider()

__all__ = ["PROVIDER", "ShopifyProvider"]

"""WooCommerce: webhook.py (signature, topics, delivery ids, the creation ping), mapping.py (REST resources ->
entities). PROVIDER is what the registry finds."""

from connectors.providers.woocommerce.webhook import WooCommerceProvider

PROVIDER = WooCommerceProvider()

__all__ = ["PROVIDER", "WooCommerceProvider"]

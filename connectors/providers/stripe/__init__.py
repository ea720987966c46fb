"""Stripe: webhook.py (Stripe-Signature, event types, delivery ids), mapping.py (API objects -> entities). PROVIDER
is what the registry finds."""

from connectors.providers.stripe.webhook import StripeProvider

PROVIDER = StripeProvider()

__all__ = ["PROVIDER", "StripeProvider"]

"""Zoho CRM: OAuth2 (authorization code with PKCE, per data centre; connectors/oauth.py) and no webhooks yet
(webhook.py refuses every delivery); sync comes later (mapping.py is empty until then). PROVIDER is what the registry
finds."""

from connectors.providers.zoho_crm.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

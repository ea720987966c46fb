"""Zoho CRM: OAuth2 (authorization code with PKCE, per data centre; connectors/oauth.py), sync of Leads and Contacts
(api.py, mapping.py; no deals: no platform entity fits) with the `update_lead_status` action, and no webhooks yet
(webhook.py refuses every delivery). PROVIDER is what the registry finds."""

from connectors.providers.zoho_crm.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

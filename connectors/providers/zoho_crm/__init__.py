"""Zoho CRM: OAuth2 (authorization code with PKCE, per data centre; connectors/oauth.py), sync of Leads, Contacts and
Deals (api.py, mapping.py) with the `update_lead_status` action, and notifications (webhook.py; the channel the
set-up enables through api.py `register_webhooks`). PROVIDER is what the registry finds."""

from connectors.providers.zoho_crm.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

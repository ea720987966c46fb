"""Zoho CRM webhooks: none yet. Zoho CRM's notifications (the watch API) are not registered yet (records arrive by
sync); until then every delivery is refused and nothing is normalized."""

from connectors.base import NoWebhooks

WEBHOOKS = NoWebhooks("zoho-crm", "webhooks are not registered yet")

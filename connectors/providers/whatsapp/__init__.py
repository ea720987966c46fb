"""WhatsApp Business (Cloud API): webhooks (webhook.py: X-Hub-Signature-256, the GET hub.challenge check; inbound
messages and statuses), message templates synced (api.py, mapping.py), and the `send_text` and `send_template`
actions. PROVIDER is what the registry finds."""

from connectors.providers.whatsapp.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

"""Telegram (Bot API): updates by webhook (webhook.py: X-Telegram-Bot-Api-Secret-Token), registered by the set-up
with setWebhook and removed at disconnect with deleteWebhook (api.py), and the `send_message` action. The bot token
is in every API path: api.py keeps it out of errors, logs and results. PROVIDER is what the registry finds."""

from connectors.providers.telegram.webhook import WEBHOOKS

PROVIDER = WEBHOOKS

__all__ = ["PROVIDER"]

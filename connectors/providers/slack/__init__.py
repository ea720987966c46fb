"""Slack: webhook.py (X-Slack-Signature, Events API envelopes, slash commands, url_verification), mapping.py
(messages and commands -> entities). PROVIDER is what the registry finds."""

from connectors.providers.slack.webhook import SlackProvider

PROVIDER = SlackProvider()

__all__ = ["PROVIDER", "SlackProvider"]

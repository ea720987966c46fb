"""Trello: webhook.py (X-Trello-Webhook over the body and the callback URL, action types as topics), mapping.py
(boards, lists, cards, members -> entities), api.py (the sync's pages, webhooks the set-up registers, `create_card`).
PROVIDER is what the registry finds."""

from connectors.providers.trello.webhook import TrelloProvider

PROVIDER = TrelloProvider()

__all__ = ["PROVIDER", "TrelloProvider"]

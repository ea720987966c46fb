"""Telegram Bot API updates by webhook: Telegram POSTs one Update (JSON: `update_id` and one of `message`,
`edited_message`, `channel_post`, `edited_channel_post`, `callback_query` ...) to the URL given to `setWebhook`, with
`X-Telegram-Bot-Api-Secret-Token: <the secret_token given to setWebhook>`. Registered by the set-up (api.py
`register_webhooks`), which makes the secret token; compared in constant time with each secret.

Topic: the Update's kind (the field beside update_id). Delivery id: `update_id`, one per update, kept on Telegram's
retries. The bot token is never part of a delivery; it lives in Vault and in the API's paths only (api.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, WebhookRequest
from connectors.normalize import json_object, json_object_or_none, opt_text, run_mapper
from connectors.providers.telegram.mapping import upsert_message
from connectors.signatures import header, verify_token

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# Update kind -> whether it is an edit (the mapped kinds carry a Message object)
MESSAGES = {"message": False, "edited_message": True, "channel_post": False, "edited_channel_post": True}
UPDATE_KINDS = (*MESSAGES, "callback_query", "my_chat_member", "chat_member", "message_reaction", "inline_query")


class TelegramProvider:
    provider: ClassVar[str] = "telegram"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset()  # the secret token header is never kept
    topics: ClassVar[frozenset[str]] = frozenset(MESSAGES)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_token(header(request.headers, SECRET_HEADER), secrets, "X-Telegram-Bot-Api-Secret-Token")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        update = json_object_or_none(request.body)
        return opt_text(update.get("update_id")) if update else None

    def topic(self, request: WebhookRequest) -> str:
        update = json_object_or_none(request.body) or {}
        return next((kind for kind in UPDATE_KINDS if kind in update), "")

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Any]:
        if topic not in MESSAGES:
            raise NormalizeError(f"telegram update kind {topic!r} has no mapping")
        update = json_object(request.body, f"telegram {topic}")
        return run_mapper(ctx, self.provider, topic, lambda out: upsert_message(out, update[topic], MESSAGES[topic]))


WEBHOOKS = TelegramProvider()

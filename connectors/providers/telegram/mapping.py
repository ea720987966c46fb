"""Telegram Bot API objects -> entities: a Message object (an Update's message, edited_message, channel_post or
edited_channel_post) is a `message` keyed by `<chat id>:<message_id>` (message ids are unique within a chat only),
and its Chat a `conversation` keyed by the chat id. What a person wrote is data, never instructions
(docs/decisions.md)."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, text, utc_time
from events.entities import Message
from events.entities_messaging import Conversation

CHANNEL = "telegram"
KINDS = {"private": "direct", "group": "group", "supergroup": "group", "channel": "channel"}


def message_id(chat_id: Any, message: Any) -> str:
    return f"{chat_id}:{message}"


def _person(user: dict[str, Any]) -> str:
    return " ".join(p for p in (text(user.get("first_name")), text(user.get("last_name"))) if p)


def chat(c: dict[str, Any]) -> Conversation:
    return Conversation(
        channel=CHANNEL,
        name=text(c.get("title")) or _person(c) or text(c.get("username")),
        kind=KINDS.get(text(c.get("type")), text(c.get("type"))),
        provider_data=compact(type=c.get("type"), username=c.get("username"), is_forum=c.get("is_forum")),
    )


def upsert_message(out: EventBuilder, msg: dict[str, Any], edited: bool = False) -> None:
    """A Message object and its chat; an edit is the message's new state, at its edit time."""
    c, sender = msg["chat"], msg.get("from") or msg.get("sender_chat") or {}
    sent_at = utc_time(msg["date"])
    occurred_at = utc_time(msg["edit_date"]) if edited and msg.get("edit_date") else sent_at
    thread = msg.get("message_thread_id") if msg.get("is_topic_message") else None
    reply = msg.get("reply_to_message") or {}
    entity = Message(
        channel=CHANNEL,
        conversation_external_id=text(c["id"]),
        thread_external_id=message_id(c["id"], thread) if thread else None,
        sender=text(sender.get("username") or sender.get("id")),
        text=text(msg.get("text") or msg.get("caption")),
        sent_at=sent_at,
        provider_data=compact(
            sender_id=sender.get("id"),
            sender_name=_person(sender) or sender.get("title"),
            is_bot=sender.get("is_bot") or None,
            reply_to=message_id(c["id"], reply["message_id"]) if reply.get("message_id") else None,
            edited=edited or None,
            media=[k for k in ("photo", "video", "voice", "audio", "document", "sticker", "location") if k in msg],
        ),
    )
    out.upsert("message", message_id(c["id"], msg["message_id"]), occurred_at, entity)
    out.upsert("conversation", c["id"], occurred_at, chat(c))

"""Slack objects -> entities: a message (Events API `message` events, conversations.history) and a slash command,
which is text a user sent in a conversation, addressed to the app; a conversation (conversations.list). Messages are
keyed by channel and `ts` (Slack's own message key). A command's `response_url` (a capability to post into the
channel) is never copied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, opt_time, text, utc_time
from events.entities import Message
from events.entities_messaging import Conversation

CHANNEL = "slack"


def message_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def message(msg: dict[str, Any], channel: str, **provider_data: Any) -> Message:
    """A Slack message object in `channel`; `provider_data` as given, without its empty values."""
    ts, thread = text(msg["ts"]), text(msg.get("thread_ts"))
    return Message(
        channel=CHANNEL,
        conversation_external_id=opt_text(channel),
        thread_external_id=message_id(channel, thread) if thread and thread != ts else None,
        sender=text(msg.get("user") or msg.get("bot_id") or msg.get("username")),
        text=text(msg.get("text")),
        sent_at=utc_time(ts),
        provider_data=compact(**provider_data),
    )


def slash_command(fields: dict[str, Any], sent_at: datetime | None) -> Message:
    """A slash command's form fields; `sent_at` comes from the request (the body has no time)."""
    command = text(fields.get("command"))
    return Message(
        channel=CHANNEL,
        conversation_external_id=opt_text(fields.get("channel_id")),
        sender=text(fields.get("user_id")),
        text=f"{command} {text(fields.get('text'))}".strip(),
        sent_at=sent_at,
        provider_data=compact(
            command=command,
            team_id=fields.get("team_id"),
            channel_name=fields.get("channel_name"),
            user_name=fields.get("user_name"),
        ),
    )


def _conversation_kind(c: dict[str, Any]) -> str:
    if c.get("is_im"):
        return "direct"
    if c.get("is_mpim"):
        return "group"
    return "private" if c.get("is_private") or c.get("is_group") else "public"


def conversation(c: dict[str, Any]) -> Conversation:
    """A conversations.list object (a channel, a private channel, a DM or group DM)."""
    return Conversation(
        channel=CHANNEL,
        name=text(c.get("name") or c.get("user")),
        kind=_conversation_kind(c),
        topic=text((c.get("topic") or {}).get("value")),
        purpose=text((c.get("purpose") or {}).get("value")),
        members=c.get("num_members") if isinstance(c.get("num_members"), int) else None,
        archived=bool(c.get("is_archived")),
        created_at=opt_time(c.get("created")),
        provider_data=compact(is_member=c.get("is_member"), is_shared=c.get("is_shared") or None),
    )


def upsert_conversation(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("conversation", c["id"], None, conversation(c))


def upsert_message(out: EventBuilder, msg: dict[str, Any]) -> None:
    """A conversations.history message; api.py adds its `channel` and `id` (the message key)."""
    edited = (msg.get("edited") or {}).get("ts")
    entity = message(msg, msg["channel"], subtype=msg.get("subtype"), reply_count=msg.get("reply_count"))
    out.upsert("message", msg["id"], utc_time(edited or msg["ts"]), entity)


MAPPERS = {"conversation": upsert_conversation, "message": upsert_message}

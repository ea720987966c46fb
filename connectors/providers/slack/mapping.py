"""Slack objects -> entities: a message (Events API `message` events, conversations.history) and a slash command,
which is text a user sent in a conversation, addressed to the app. Messages are keyed by channel and `ts` (Slack's
own message key). A command's `response_url` (a capability to post into the channel) is never copied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.normalize import compact, opt_text, text, utc_time
from events.entities import Message

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

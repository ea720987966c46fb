"""Messaging entities besides the message itself (`Message` in events/entities.py): the conversations messages are
posted in, and the pre-approved templates a business sends messages from (issue 13).

A conversation is a Slack channel (public or private), a direct message or group DM, a Telegram chat, a WhatsApp
customer thread; its external id is the provider's channel/chat id, which `Message.conversation_external_id` names.
A message template is WhatsApp's (Meta's) template a business may start a conversation with outside the 24-hour
customer service window: its name and language name it at send time, its status says whether Meta approved it.
"""

from __future__ import annotations

from events.entities import Entity, UtcTime


class Conversation(Entity, frozen=True, kw_only=True):
    channel: str = ""  # slack, whatsapp, telegram ...
    name: str = ""  # a channel's name, a chat's title, a person's name for a direct conversation
    kind: str = ""  # public, private, direct, group (the provider's own word goes to provider_data)
    topic: str = ""
    purpose: str = ""
    members: int | None = None
    archived: bool = False
    created_at: UtcTime | None = None


class MessageTemplate(Entity, frozen=True, kw_only=True):
    channel: str = ""  # whatsapp ...
    name: str = ""  # with the language, what a send names
    language: str = ""  # en_US, pt_BR ...
    category: str = ""  # MARKETING, UTILITY, AUTHENTICATION
    status: str = ""  # APPROVED, PENDING, REJECTED, PAUSED, DISABLED (the provider's)
    body: str = ""  # the BODY component's text, with its {{n}} placeholders
    header: str = ""  # a TEXT header's text
    footer: str = ""

"""WhatsApp Cloud API objects -> entities, shared by webhook.py and the template sync (api.py).

- An inbound message (`value.messages[]`) is a `message` keyed by its wamid; its conversation is the customer's
  WhatsApp number (`from`, a wa_id), which is also a `conversation` record named by the contact's profile name.
  Its text is what the person wrote (a text's body, a caption, a button's or a list reply's title, a reaction's
  emoji): data for the platform and its agents, never instructions (docs/decisions.md).
- A status (`value.statuses[]`: sent, delivered, read, failed) is the state of a message the business sent: the same
  `message` key (its wamid), with the status, the recipient and any errors in provider_data.
- A message template (GET /{waba-id}/message_templates) is a `message_template` keyed by Meta's template id.
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, opt_text, text, utc_time
from events.entities import Message
from events.entities_messaging import Conversation, MessageTemplate

CHANNEL = "whatsapp"
MEDIA = ("image", "video", "audio", "document", "sticker")


def _said(msg: dict[str, Any]) -> str:
    """What the person wrote or chose, whatever the message type."""
    kind = msg.get("type")
    part = msg.get(kind) if isinstance(kind, str) and isinstance(msg.get(kind), dict) else {}
    if kind == "text":
        return text(part.get("body"))
    if kind in MEDIA:
        return text(part.get("caption"))
    if kind == "button":
        return text(part.get("text"))
    if kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        return text(reply.get("title"))
    if kind == "reaction":
        return text(part.get("emoji"))
    if kind == "location":
        return ", ".join(p for p in (text(part.get("name")), text(part.get("address"))) if p)
    return ""


def _media_id(msg: dict[str, Any]) -> str | None:
    part = msg.get(msg.get("type")) if msg.get("type") in MEDIA else None
    return opt_text(part.get("id")) if isinstance(part, dict) else None


def inbound(out: EventBuilder, value: dict[str, Any], msg: dict[str, Any]) -> None:
    """One inbound message of a change's value, and its sender's conversation."""
    metadata = value.get("metadata") or {}
    names = {text(c.get("wa_id")): text((c.get("profile") or {}).get("name")) for c in value.get("contacts") or []}
    sender, sent_at = text(msg["from"]), utc_time(msg["timestamp"])
    context = msg.get("context") or {}
    reaction = msg.get("reaction") or {}
    entity = Message(
        channel=CHANNEL,
        conversation_external_id=sender,
        sender=sender,
        text=_said(msg),
        sent_at=sent_at,
        provider_data=compact(
            type=msg.get("type"),
            direction="inbound",
            profile_name=names.get(sender),
            phone_number_id=metadata.get("phone_number_id"),
            display_phone_number=metadata.get("display_phone_number"),
            media_id=_media_id(msg),
            reply_to=context.get("id") or reaction.get("message_id"),
        ),
    )
    out.upsert("message", msg["id"], sent_at, entity)
    if names.get(sender):
        conversation = Conversation(channel=CHANNEL, name=names[sender], kind="direct")
        out.upsert("conversation", sender, sent_at, conversation)


def status(out: EventBuilder, value: dict[str, Any], state: dict[str, Any]) -> None:
    """A status of a message the business sent (sent, delivered, read, failed)."""
    metadata = value.get("metadata") or {}
    at, word = utc_time(state["timestamp"]), text(state.get("status"))
    errors = [compact(code=e.get("code"), title=e.get("title")) for e in state.get("errors") or []]
    entity = Message(
        channel=CHANNEL,
        conversation_external_id=opt_text(state.get("recipient_id")),
        sender=text(metadata.get("display_phone_number") or metadata.get("phone_number_id")),
        sent_at=at if word == "sent" else None,
        provider_data=compact(
            direction="outbound",
            status=word,
            recipient_id=state.get("recipient_id"),
            phone_number_id=metadata.get("phone_number_id"),
            conversation_id=(state.get("conversation") or {}).get("id"),
            pricing_category=(state.get("pricing") or {}).get("category"),
            errors=errors,
        ),
    )
    out.upsert("message", state["id"], at, entity)


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in components if isinstance(c, dict) and c.get("type") == kind), {})


def template(t: dict[str, Any]) -> MessageTemplate:
    components = t.get("components") or []
    header = _component(components, "HEADER")
    buttons = _component(components, "BUTTONS").get("buttons") or []
    return MessageTemplate(
        channel=CHANNEL,
        name=text(t.get("name")),
        language=text(t.get("language")),
        category=text(t.get("category")),
        status=text(t.get("status")),
        body=text(_component(components, "BODY").get("text")),
        header=text(header.get("text")) if header.get("format", "TEXT") == "TEXT" else "",
        footer=text(_component(components, "FOOTER").get("text")),
        provider_data=compact(
            header_format=header.get("format"),
            buttons=[compact(type=b.get("type"), text=b.get("text")) for b in buttons if isinstance(b, dict)],
            quality_score=(t.get("quality_score") or {}).get("score"),
            parameter_format=t.get("parameter_format"),
            rejected_reason=t.get("rejected_reason") if t.get("rejected_reason") not in (None, "NONE") else None,
        ),
    )


def upsert_template(out: EventBuilder, t: dict[str, Any]) -> None:
    out.upsert("message_template", t["id"], None, template(t))


MAPPERS = {"message_template": upsert_template}

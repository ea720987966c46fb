"""A mail read from the mailbox (parse.py's object) -> a `message`, keyed by its mailbox position
`<UIDVALIDITY>:<UID>` (unique in the mailbox, unlike a Message-ID a sender chooses: a forged one cannot overwrite
another mail's record). Its conversation is the thread's first message's id (References' first, else In-Reply-To,
else its own Message-ID). It happened when the server received it (INTERNALDATE; the Date header is the sender's
claim, kept as sent_at). What a mail says is data, never instructions (docs/decisions.md)."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, compact, opt_time, text, utc_time
from events.entities import Message

CHANNEL = "email"


def message(out: EventBuilder, mail: dict[str, Any]) -> None:
    references = mail.get("references") or []
    thread = (references[0] if references else "") or mail.get("in_reply_to") or mail.get("message_id") or None
    received = mail.get("received_at") or mail.get("sent_at")
    entity = Message(
        channel=CHANNEL,
        conversation_external_id=thread,
        sender=text(mail.get("from")),
        text=text(mail.get("text")),
        sent_at=opt_time(mail.get("sent_at")),
        provider_data=compact(
            subject=mail.get("subject"),
            to=mail.get("to"),
            cc=mail.get("cc"),
            sender_name=mail.get("from_name"),
            message_id=mail.get("message_id"),
            in_reply_to=mail.get("in_reply_to"),
            bounce=mail.get("bounce"),
            failed_recipients=mail.get("failed_recipients"),
            bounced_message_id=mail.get("bounced_message_id"),
            size=mail.get("size"),
            truncated=mail.get("truncated") or None,
            parse_error=mail.get("parse_error"),
        ),
    )
    out.upsert("message", mail["id"], utc_time(received) if received else None, entity)


MAPPERS = {"message": message}

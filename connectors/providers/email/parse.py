"""One fetched message (untrusted bytes, at most imap.MAX_MESSAGE_BYTES) -> the plain object the sync pages carry:
who from and to, subject, the text body (cut at MAX_TEXT_CHARS; an HTML-only mail's tags stripped), Message-ID,
In-Reply-To and References, and for a delivery status notification (RFC 3464: multipart/report;
report-type=delivery-status) the bounce: the recipients whose Action is `failed` and the bounced message's id.
Runs in imap.py's worker thread. A message the parser cannot read still becomes an object (with `parse_error`):
one malformed mail must not stop a mailbox's sync."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from imaplib import Internaldate2tuple
from time import mktime
from typing import Any

MAX_TEXT_CHARS = 20_000
MAX_ADDRESSES = 50
MAX_HEADER_CHARS = 998
TAG = re.compile(r"<[^>]*>")


def _header(message: Message, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "") or "").split())[:MAX_HEADER_CHARS]
    except Exception:  # a header the policy cannot decode  # noqa: BLE001
        return ""


def _addresses(message: Message, name: str) -> list[str]:
    return [a for _, a in getaddresses([_header(message, name)]) if "@" in a][:MAX_ADDRESSES]


def _text(message: EmailMessage) -> str:
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        return str(plain.get_content()).replace("\r\n", "\n")[:MAX_TEXT_CHARS]  # mail's CRLF lines
    rich = message.get_body(preferencelist=("html",))
    if rich is not None:
        return " ".join(html.unescape(TAG.sub(" ", str(rich.get_content())[: MAX_TEXT_CHARS * 4])).split())[
            :MAX_TEXT_CHARS
        ]
    return ""


def _bounce(message: EmailMessage) -> dict[str, Any]:
    """A DSN's failed recipients and the bounced message's id; {} for any other message."""
    if message.get_content_type() != "multipart/report" or message.get_param("report-type") != "delivery-status":
        return {}
    failed: list[str] = []
    bounced = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload():  # the per-message fields, then one block per recipient
                if isinstance(block, Message) and _header(block, "Action").lower() == "failed":
                    recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
                    failed.append(recipient.split(";", 1)[-1].strip())
        elif kind == "message/rfc822" and isinstance(part.get_payload(), list) and part.get_payload():
            bounced = bounced or _header(part.get_payload()[0], "Message-ID")
        elif kind == "text/rfc822-headers":
            bounced = bounced or _header(HeaderParser().parsestr(str(part.get_content())), "Message-ID")
    return {"bounce": True, "failed_recipients": failed[:MAX_ADDRESSES], "bounced_message_id": bounced}


def _received_at(internaldate: str | None) -> str | None:
    parsed = Internaldate2tuple(f'INTERNALDATE "{internaldate}"'.encode()) if internaldate else None
    return None if parsed is None else datetime.fromtimestamp(mktime(parsed), UTC).isoformat()


def parse_message(raw: bytes, position: str, size: int, internaldate: str | None) -> dict[str, Any]:
    validity, _, uid = position.partition(":")
    found: dict[str, Any] = {
        "id": position,
        "uid": int(uid),
        "uidvalidity": int(validity),
        "size": size,
        "truncated": size > len(raw),
        "received_at": _received_at(internaldate),
    }
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        try:
            sent_at = parsedate_to_datetime(_header(message, "Date")).astimezone(UTC).isoformat()
        except (TypeError, ValueError):
            sent_at = None
        from_ = getaddresses([_header(message, "From")])
        found |= {
            "from": from_[0][1] if from_ else "",
            "from_name": from_[0][0] if from_ else "",
            "to": _addresses(message, "To"),
            "cc": _addresses(message, "Cc"),
            "subject": _header(message, "Subject"),
            "message_id": _header(message, "Message-ID"),
            "in_reply_to": _header(message, "In-Reply-To"),
            "references": _header(message, "References").split()[:MAX_ADDRESSES],
            "sent_at": sent_at,
            "text": _text(message),
            **_bounce(message),
        }
    except Exception as exc:  # untrusted input: kept with the error, never a stopped sync  # noqa: BLE001
        found["parse_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return found

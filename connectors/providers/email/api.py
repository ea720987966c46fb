"""The email provider as the sync, the set-up and the actions call it: `messages` read from the IMAP mailbox after a
position (imap.py, in a worker thread), `send_email` through SMTP (smtp.py) with templates (templates.py), and
`test_connection` logging in to both servers. Both hosts obey the public-address rule (hosts.py).

Failures: a host that does not resolve, refused credentials or mailbox are ProviderRefused naming the field to fix;
a host with a non-public address NotPublicAddress; a connection that fails or times out ProviderBusy.
"""

from __future__ import annotations

import asyncio
import imaplib
from typing import Any

from connectors.base import ApiCall, Page, ProviderBusy, ProviderRefused
from connectors.facts import Resource
from connectors.providers.email import imap, smtp
from connectors.providers.email.mapping import MAPPERS
from connectors.providers.email.templates import content
from connectors.public_http import NotPublicAddress

__all__ = ["MAPPERS", "cursor_of", "read_page", "reconciles", "send_email", "test_connection"]


def _mailbox(call: ApiCall, resource: Resource | None = None) -> imap.Mailbox:
    implicit = call.config.get("imap_security", "tls") != "starttls"
    auth = call.facts.auth
    user, password = (str(call.secrets.get(f) or "") for f in (auth.username_field, auth.password_field))
    if not (user and password):
        raise ProviderRefused("Email: the connector needs secrets.username and secrets.password")
    return imap.Mailbox(
        host=str(call.config.get("imap_host") or ""),
        port=int(call.config.get("imap_port") or (993 if implicit else 143)),
        security="tls" if implicit else "starttls",
        user=user,
        password=password,
        mailbox=str(call.config.get("mailbox") or (resource.path if resource else "INBOX")),
        allow_private=call.allow_private,
        tls=smtp.tls_context(),
    )


async def _in_thread(what: str, fn, *args):
    try:
        return await asyncio.to_thread(fn, *args)
    except imap.ImapRefused as exc:
        raise ProviderRefused(f"Email {what}: {exc}") from None
    except ValueError as exc:  # the host does not resolve
        raise ProviderRefused(f"Email {what}: config.imap_host: {exc}") from None
    except NotPublicAddress:
        raise
    except (imaplib.IMAP4.error, OSError) as exc:  # imaplib's abort, a reset, a timeout, a TLS failure
        raise ProviderBusy(f"Email {what}: the IMAP connection failed ({type(exc).__name__})") from None


async def read_page(
    call: ApiCall,
    resource: Resource,
    page: int,
    since: str | None = None,
    until: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
) -> Page:
    """The messages after `after` (this run's position), or on a run's first page after `since` (the checkpoint:
    `<UIDVALIDITY>:<UID>`); None: from the mailbox's first message."""
    box = _mailbox(call, resource)
    objects, next_position = await _in_thread(
        f"reading {box.mailbox}", imap.read, box, after or since, per_page or resource.page_size
    )
    return Page(objects=objects, next_cursor=next_position)


def cursor_of(resource: Resource, obj: dict[str, Any]) -> str | None:
    return str(obj["id"])  # its position: the checkpoint, and (a mail never changes) its version


def reconciles(resource: Resource, external_id: str) -> bool:
    return False  # mail moved out of the folder or expunged was read; its record stays


async def test_connection(call: ApiCall) -> None:
    """Log in to the IMAP server and open the mailbox, then to the SMTP server."""
    await _in_thread("opening the mailbox", imap.check, _mailbox(call))
    client = await smtp.session(call)
    await client.quit()


async def send_email(
    call: ApiCall,
    to: list[str],
    subject: str | None = None,
    template: str | None = None,
    text: str | None = None,
    html: str | None = None,
    variables: dict[str, str] | None = None,
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """The `send_email` action: answers the sent message's Message-ID as `id`, with the recipients the server
    accepted and those it refused (with their reply codes)."""
    message = smtp.build(call, to, content(call.config, template, subject, text, html, variables), in_reply_to)
    sent = await smtp.send(call, message)
    return {"id": str(message["Message-ID"]), **({"template": template} if template else {}), **sent}

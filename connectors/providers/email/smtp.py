"""Sending mail: one SMTP session per send through aiosmtplib, over a socket hosts.py connected to a checked
address, encrypted before AUTH (STARTTLS on the submission port, or implicit TLS: config.smtp_security), with the
user and password from Vault. Nothing this module raises or answers carries the password; the server's own words
are cut short and named by their reply code.

Failures: 4xx replies, a connection that fails or times out are ProviderBusy (the next attempt may pass); 5xx
replies, refused credentials, every recipient refused are ProviderRefused.
"""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

import aiosmtplib

from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.providers.email import hosts
from connectors.providers.email.templates import Content
from connectors.public_http import NotPublicAddress

TIMEOUT_S = 30.0
# a CA file to trust besides the system's: tests set it (their local servers' certificate), never a tenant's setting
CA_FILE: str | None = None


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CA_FILE)


def _secret(call: ApiCall, name: str) -> str:
    value = str(call.secrets.get(name) or "")
    if not value:
        raise ProviderRefused(f"Email: the connector has no {name}: add secrets.{name}")
    return value


def build(call: ApiCall, to: list[str], content: Content, in_reply_to: str | None) -> EmailMessage:
    sender = str(call.config.get("from_address") or "")
    if "@" not in sender:
        raise ProviderRefused("Email: config.from_address must be the address mail is sent from")
    message = EmailMessage()
    try:
        message["From"] = formataddr((str(call.config.get("from_name") or ""), sender))
        message["To"] = ", ".join(to)
        message["Subject"] = content.subject
    except ValueError as exc:  # a line break in a header value
        raise ProviderRefused(f"Email: a header is malformed ({exc})") from None
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    if content.text:
        message.set_content(content.text)
        if content.html:
            message.add_alternative(content.html, subtype="html")
    else:
        message.set_content(content.html, subtype="html")
    return message


async def session(call: ApiCall) -> aiosmtplib.SMTP:
    """A connected, encrypted and authenticated SMTP session (the caller quits it)."""
    host = str(call.config.get("smtp_host") or "")
    implicit = call.config.get("smtp_security") == "tls"
    port = int(call.config.get("smtp_port") or (465 if implicit else 587))
    user, password = _secret(call, call.facts.auth.username_field), _secret(call, call.facts.auth.password_field)
    try:
        sock = await asyncio.to_thread(hosts.connect, host, port, call.allow_private, TIMEOUT_S)
    except ValueError as exc:
        raise ProviderRefused(f"Email: config.smtp_host: {exc}") from None
    except NotPublicAddress:
        raise
    except OSError as exc:
        raise ProviderBusy(f"Email: could not connect to the SMTP server ({type(exc).__name__})") from None
    sock.setblocking(False)
    client = aiosmtplib.SMTP(
        hostname=host, sock=sock, use_tls=implicit, start_tls=not implicit, tls_context=tls_context(), timeout=TIMEOUT_S
    )
    try:
        await client.connect()
        await client.login(user, password)
    except (aiosmtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts are OSErrors
        client.close()
        raise _failure(exc, "connecting to the SMTP server") from None
    return client


def _failure(exc: Exception, what: str) -> Exception:
    """A provider error for an SMTP failure, naming the reply code, never the credentials."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ProviderRefused(
            f"Email {what}: the server refused the user name and password (reply {exc.code}): check "
            "secrets.username and secrets.password (an app password where the provider requires one)"
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{e.recipient} ({e.code})" for e in exc.recipients)
        return ProviderRefused(f"Email {what}: every recipient was refused: {refused}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"reply {exc.code}: {str(exc.message)[:200]}"
        if 400 <= exc.code < 500:
            return ProviderBusy(f"Email {what}: the server answered {detail}, try later")
        return ProviderRefused(f"Email {what}: the server refused ({detail})")
    return ProviderBusy(f"Email {what}: the connection failed ({type(exc).__name__})")


async def send(call: ApiCall, message: EmailMessage) -> dict[str, Any]:
    """Send `message` to its To addresses: the accepted and refused recipients (some may be refused while others
    are accepted; all refused is ProviderRefused)."""
    client = await session(call)
    try:
        refused, _ = await client.send_message(message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _failure(exc, "sending a message") from None
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()
    to = [a.strip() for a in str(message["To"]).split(",")]
    return {
        "accepted": [a for a in to if a not in refused],
        "refused": {address: reply.code for address, reply in refused.items()},
    }

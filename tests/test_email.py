"""Email: `send_email` through aiosmtplib to a real local SMTP server (aiosmtpd: STARTTLS, then AUTH) and the exact
message it received; inbound mail and bounces read from a real IMAP server (Dovecot, tests/mail_servers.py) after
a `<UIDVALIDITY>:<UID>` checkpoint; both mail hosts refused on private addresses unless allow_private; and the
password in no error or log line."""

from __future__ import annotations

import json
import logging
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from connectors.base import ApiCall, ProviderBusy, ProviderRefused
from connectors.normalize import run_mapper
from connectors.providers.email import api, imap, parse, smtp
from connectors.public_http import NotPublicAddress
from connectors.registry import get_facts

FACTS = get_facts("email")
TEMPLATES = json.dumps(
    {
        "welcome": {
            "subject": "Welcome, {{name}}",
            "text": "Hi {{name}},\nyour order {{order}} shipped.",
            "html": "<p>Hi {{name}}</p>",
        }
    }
)


def our_logs(caplog) -> str:
    """Every captured log line but the servers' own (aiosmtpd's `mail.log`: the far side of the wire)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail"))


def email_call(smtp_server=None, dovecot=None, **config) -> ApiCall:
    values = {"from_address": "support@acme.test", "from_name": "Acme Support", "templates": TEMPLATES}
    secrets = {}
    if smtp_server is not None:
        values |= {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "smtp_security": "starttls"}
        secrets = {"username": smtp_server.user, "password": smtp_server.password}
    if dovecot is not None:
        values |= {"imap_host": dovecot.host, "imap_port": dovecot.port, "imap_security": "tls"}
        secrets = {"username": dovecot.user, "password": dovecot.password}
    return ApiCall(FACTS, values | config, secrets, allow_private=True)


@pytest.fixture(autouse=True)
def trust_test_cert(mail_cert, monkeypatch):
    monkeypatch.setattr(smtp, "CA_FILE", mail_cert.cert)


async def test_send_email_from_a_template_delivers_the_exact_message(smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    call = email_call(smtp_server)
    given = {"name": "Ana <b>", "order": "#1001"}
    result = await api.send_email(call, ["ana@example.test", "x@refused.test"], template="welcome", variables=given)
    (envelope,) = smtp_server.handler.received
    assert smtp_server.logins == [smtp_server.user]
    assert envelope.mail_from == "support@acme.test" and envelope.rcpt_tos == ["ana@example.test"]
    assert result["accepted"] == ["ana@example.test"] and result["refused"] == {"x@refused.test": 550}
    received = message_from_bytes(envelope.content.replace(b"\r\n", b"\n"), policy=policy.default)
    assert received["From"] == "Acme Support <support@acme.test>"
    assert received["To"] == "ana@example.test, x@refused.test"
    assert received["Subject"] == "Welcome, Ana <b>" and received["Message-ID"] == result["id"]
    assert result["id"].endswith("@acme.test>") and received["Date"]
    assert received.get_body(("plain",)).get_content() == "Hi Ana <b>,\nyour order #1001 shipped.\n"
    assert received.get_body(("html",)).get_content() == "<p>Hi Ana &lt;b&gt;</p>\n"  # a value is never markup
    assert smtp_server.password not in our_logs(caplog) and smtp_server.password not in repr(result)


async def test_send_email_with_its_own_body_refuses_what_cannot_be_sent(smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    call = email_call(smtp_server)
    result = await api.send_email(
        call, ["bo@example.test"], subject="Re: your question", text="Yes.", in_reply_to="<q1@example.test>"
    )
    received = message_from_bytes(
        smtp_server.handler.received[-1].content.replace(b"\r\n", b"\n"), policy=policy.default
    )
    assert (received["In-Reply-To"], received["References"]) == ("<q1@example.test>", "<q1@example.test>")
    assert received.get_content_type() == "text/plain" and result["accepted"] == ["bo@example.test"]
    with pytest.raises(ProviderRefused, match="placeholder"):
        await api.send_email(call, ["bo@example.test"], template="welcome", variables={"name": "Bo"})
    with pytest.raises(ProviderRefused, match="line break"):
        await api.send_email(call, ["bo@example.test"], subject="{{s}}", text="x", variables={"s": "a\r\nBcc: x@y"})
    with pytest.raises(ProviderRefused, match="every recipient was refused"):
        await api.send_email(call, ["nobody@refused.test"], subject="s", text="x")
    wrong = ApiCall(FACTS, call.config, {"username": smtp_server.user, "password": "not-it-3b7"}, True)
    with pytest.raises(ProviderRefused, match="user name and password") as refused:
        await api.send_email(wrong, ["bo@example.test"], subject="s", text="x")
    assert "not-it-3b7" not in str(refused.value)
    closed = email_call(smtp_server, smtp_port=1)  # nothing listens: try later
    with pytest.raises(ProviderBusy):
        await api.send_email(closed, ["bo@example.test"], subject="s", text="x")
    assert len(smtp_server.handler.received) == 1
    assert smtp_server.password not in our_logs(caplog) and "not-it-3b7" not in our_logs(caplog)


async def test_mail_hosts_on_private_addresses_are_refused_unless_allowed(smtp_server, dovecot):
    for call in (email_call(smtp_server), email_call(dovecot=dovecot)):
        private = ApiCall(FACTS, call.config, call.secrets, allow_private=False)
        with pytest.raises(NotPublicAddress, match="not a public address"):
            if "smtp_host" in call.config:
                await api.send_email(private, ["a@example.test"], subject="s", text="x")
            else:
                await api.read_page(private, FACTS.resources[0], 1)
    assert smtp_server.handler.received == []


def mail(n: int, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Customer {n} <customer{n}@example.test>"
    message["To"] = "support@acme.test"
    message["Subject"] = f"Question {n}"
    message["Message-ID"] = f"<m{n}@example.test>"
    message["Date"] = "Thu, 01 Jan 2026 10:00:00 +0000"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"Body of question {n}")
    return message


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>
To: support@acme.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn1@mx.acme.test>
Date: Thu, 01 Jan 2026 11:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.test

Final-Recipient: rfc822; gone@example.test
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; fine@example.test
Action: delivered
Status: 2.0.0
--B
Content-Type: text/rfc822-headers

From: support@acme.test
To: gone@example.test
Message-ID: <sent-42@acme.test>
Subject: Your order
--B--
"""


def mapped(call: ApiCall, obj: dict):
    from datetime import UTC, datetime

    from connectors.base import IngestContext

    ctx = IngestContext("tenant-mail", "con_mail", f"sync:messages:{obj['id']}", datetime.now(UTC), dict(call.config))
    (event,) = run_mapper(ctx, "email", "messages", lambda out: api.MAPPERS["message"](out, obj), False)
    return event


async def test_messages_are_read_after_the_checkpoint_and_a_bounce_names_its_failed_recipient(dovecot, caplog):
    caplog.set_level(logging.DEBUG)
    dovecot.clear()
    call, resource = email_call(dovecot=dovecot), FACTS.resource("messages")
    validity = dovecot.uidvalidity()
    dovecot.append(mail(1), mail(2, In_Reply_To="<m1@example.test>", References="<m1@example.test>"), DSN)
    page = await api.read_page(call, resource, 1, per_page=2)
    assert [o["subject"] for o in page.objects] == ["Question 1", "Question 2"]
    assert page.next_cursor == page.objects[-1]["id"] and page.objects[0]["id"].startswith(f"{validity}:")
    rest = await api.read_page(call, resource, 2, per_page=2, after=page.next_cursor)
    assert rest.next_cursor is None and [o["subject"] for o in rest.objects] == ["Undelivered Mail Returned to Sender"]

    first, reply = (mapped(call, o) for o in page.objects)
    assert first.subject.external_id == page.objects[0]["id"] and first.data.sender == "customer1@example.test"
    assert first.data.text == "Body of question 1\n" and first.data.channel == "email"
    assert first.data.provider_data["to"] == ["support@acme.test"]
    assert first.data.provider_data["message_id"] == "<m1@example.test>" and "bounce" not in first.data.provider_data
    assert reply.data.provider_data["in_reply_to"] == "<m1@example.test>"
    assert reply.data.conversation_external_id == first.data.conversation_external_id == "<m1@example.test>"
    bounce = mapped(call, rest.objects[0]).data.provider_data
    assert bounce["bounce"] is True and bounce["failed_recipients"] == ["gone@example.test"]
    assert bounce["bounced_message_id"] == "<sent-42@acme.test>"

    # the checkpoint: only what arrived after it
    checkpoint = rest.objects[-1]["id"]
    assert (await api.read_page(call, resource, 1, since=checkpoint)).objects == []
    dovecot.append(mail(3))
    later = await api.read_page(call, resource, 1, since=checkpoint)
    assert [o["subject"] for o in later.objects] == ["Question 3"] and later.next_cursor is None
    # a position of another UIDVALIDITY (a recreated mailbox) reads it from the start
    again = await api.read_page(call, resource, 1, since=f"{validity + 1}:{checkpoint.split(':')[1]}", per_page=10)
    assert len(again.objects) == 4
    assert dovecot.password not in our_logs(caplog)


async def test_imap_refusals_name_the_field_never_the_password(dovecot):
    call, resource = email_call(dovecot=dovecot), FACTS.resource("messages")
    wrong = ApiCall(FACTS, call.config, {"username": dovecot.user, "password": "wrong-8c2a"}, True)
    with pytest.raises(ProviderRefused, match="user name and password") as refused:
        await api.read_page(wrong, resource, 1)
    assert "wrong-8c2a" not in str(refused.value)
    with pytest.raises(ProviderRefused, match=r"config\.mailbox"):
        await api.read_page(email_call(dovecot=dovecot, mailbox="Nope"), resource, 1)
    with pytest.raises(ProviderBusy):
        await api.read_page(email_call(dovecot=dovecot, imap_port=1), resource, 1)


async def test_a_huge_or_malformed_mail_is_capped_and_kept_never_a_stopped_sync(dovecot):
    dovecot.clear()
    call, resource = email_call(dovecot=dovecot), FACTS.resource("messages")
    huge = mail(7)
    huge.set_content("x" * (imap.MAX_MESSAGE_BYTES + 200_000))
    broken = b"From: =?utf-8?q?broken\r\nSubject: =?x-unknown?b?////?=\r\nContent-Type: multipart/mixed\r\n\r\nno parts"
    dovecot.append(huge, broken)
    big, odd = (await api.read_page(call, resource, 1)).objects
    assert big["truncated"] is True and big["size"] > imap.MAX_MESSAGE_BYTES
    assert big["subject"] == "Question 7" and len(big["text"]) == parse.MAX_TEXT_CHARS
    assert odd["truncated"] is False and mapped(call, odd).subject.external_id == odd["id"]  # still a record

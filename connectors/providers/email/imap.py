"""Reading a mailbox over IMAP (the standard library's imaplib, run in a worker thread: it blocks, and parsing
untrusted mail is CPU work that must stay off the event loop). One read opens the mailbox read-only (EXAMINE: no
\\Seen flag is set, nothing is expunged), takes its UIDVALIDITY, searches the UIDs after the position and fetches
at most `limit` messages, each at most MAX_MESSAGE_BYTES (a partial BODY.PEEK[]; a larger message is parsed from
its first bytes and marked truncated), parsed by parse.py in the same thread.

A position is `<UIDVALIDITY>:<UID>`; one of another UIDVALIDITY (the mailbox was recreated, its UIDs renumbered)
reads the mailbox from its first message again.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.providers.email import hosts
from connectors.providers.email.parse import parse_message

TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 1 << 20  # fetched per message; the rest is not read
FETCH_ITEMS = f"(UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>)"
UID = re.compile(rb"UID (\d+)")
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapRefused(Exception):
    """The server refused (login, mailbox): api.py makes it a ProviderRefused with the field to fix."""


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    security: str  # tls (implicit) or starttls
    user: str
    password: str = field(repr=False)
    mailbox: str
    allow_private: bool
    tls: ssl.SSLContext = field(repr=False)


class _Plain(imaplib.IMAP4):
    """IMAP over a socket hosts.py connected to a checked address (STARTTLS follows)."""

    def __init__(self, host: str, port: int, connect: Callable[[], Any]) -> None:
        self._checked_socket = connect
        super().__init__(host, port, TIMEOUT_S)

    def _create_socket(self, timeout):
        return self._checked_socket()


class _Tls(imaplib.IMAP4_SSL):
    """Implicit TLS over such a socket, the certificate checked against the host's name."""

    def __init__(self, host: str, port: int, connect: Callable[[], Any], context: ssl.SSLContext) -> None:
        self._checked_socket = connect
        super().__init__(host, port, ssl_context=context, timeout=TIMEOUT_S)

    def _create_socket(self, timeout):
        return self.ssl_context.wrap_socket(self._checked_socket(), server_hostname=self.host)


def _quoted(name: str) -> str:
    if not name or any(c in name for c in '"\\\r\n') or len(name) > 200:
        raise ImapRefused("config.mailbox must be a folder name without quotes, backslashes or line breaks")
    return f'"{name}"'


@contextmanager
def opened(box: Mailbox):
    """A logged-in client with `box.mailbox` selected read-only, and its UIDVALIDITY."""

    def connect():
        return hosts.connect(box.host, box.port, box.allow_private, TIMEOUT_S)

    client = (
        _Tls(box.host, box.port, connect, box.tls) if box.security == "tls" else _Plain(box.host, box.port, connect)
    )
    try:
        if box.security != "tls":
            client.starttls(box.tls)
        try:
            client.login(box.user, box.password)
        except imaplib.IMAP4.error:  # the server's words may echo the user name, never the password
            raise ImapRefused("the server refused the user name and password") from None
        status, _ = client.select(_quoted(box.mailbox), readonly=True)
        if status != "OK":
            raise ImapRefused(f"the server has no mailbox {box.mailbox!r}: check config.mailbox")
        _, found = client.response("UIDVALIDITY")
        yield client, int(found[0])
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            client.shutdown()


def check(box: Mailbox) -> None:
    """Log in and open the mailbox (the set-up's connection test)."""
    with opened(box):
        pass


def read(box: Mailbox, position: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The messages after `position`, oldest first, at most `limit`, parsed; and the position to read after next
    when more remain (None: these were the last)."""
    with opened(box) as (client, validity):
        after = 0
        if position:
            known, _, uid = position.partition(":")
            after = int(uid) if known == str(validity) else 0
        _, found = client.uid("SEARCH", f"UID {after + 1}:*")
        uids = sorted(u for u in map(int, (found[0] or b"").split()) if u > after)  # n:* includes the last UID
        batch = uids[:limit]
        objects = []
        if batch:
            _, fetched = client.uid("FETCH", ",".join(map(str, batch)), FETCH_ITEMS)
            for item in fetched:
                if isinstance(item, tuple) and (uid_found := UID.search(item[0])):
                    size, date = SIZE.search(item[0]), INTERNALDATE.search(item[0])
                    position_of = f"{validity}:{int(uid_found.group(1))}"
                    received = date.group(1).decode() if date else None
                    objects.append(parse_message(item[1], position_of, int(size.group(1)) if size else 0, received))
        objects.sort(key=lambda o: o["uid"])
        more = len(uids) > limit
        return objects, (f"{validity}:{batch[-1]}" if more else None)

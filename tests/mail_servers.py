"""Real mail servers for the email provider's tests: Debian's Dovecot (`dovecot-imapd`) as the IMAP server, started
once per session on a free port with a throwaway config, a passwd-file user and a self-signed certificate (skipped
with the reason when /usr/sbin/dovecot is missing: `apt-get install dovecot-imapd`; .ci/run installs it), and
aiosmtpd as the SMTP server, STARTTLS required before AUTH, keeping every message it accepts.

Dovecot runs in the foreground (`-F`) under its own config (`-c`), never as a system service, linked to this
session (SIGTERM if pytest dies) and stopped when the session ends. Mail is put in its mailbox over IMAP (APPEND),
as a real delivery would leave it."""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bizosaas.servers import free_port, launch

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT_S = 30.0
USER, PASSWORD = "support@acme.test", "imap-Pa55-word-4f9c"


@dataclass(frozen=True)
class MailCert:
    cert: str  # PEM file paths
    key: str

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def mail_cert(tmp_path_factory) -> MailCert:
    """A self-signed certificate for localhost and 127.0.0.1 (the clients trust it through smtp.CA_FILE)."""
    folder = tmp_path_factory.mktemp("mail-cert")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "key.pem").write_bytes(pem)
    return MailCert(str(folder / "cert.pem"), str(folder / "key.pem"))


@dataclass
class Dovecot:
    host: str
    port: int  # implicit TLS (imaps)
    user: str
    password: str = field(repr=False)
    cert: MailCert = field(repr=False)
    _appended: int = 0

    def client(self) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.cert.client_context(), timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, *messages: bytes | EmailMessage, mailbox: str = "INBOX") -> None:
        client = self.client()
        try:
            for message in messages:
                raw = message if isinstance(message, bytes) else message.as_bytes()
                status, answer = client.append(mailbox, None, None, raw)
                assert status == "OK", answer
        finally:
            client.logout()

    def clear(self, mailbox: str = "INBOX") -> None:
        """Expunge every message (UIDs go on: the next message's UID is still greater)."""
        client = self.client()
        try:
            client.select(mailbox)
            client.store("1:*", "+FLAGS.SILENT", r"(\Deleted)") if client.search(None, "ALL")[1][0] else None
            client.expunge()
        finally:
            client.logout()

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        client = self.client()
        try:
            client.select(mailbox, readonly=True)
            return int(client.response("UIDVALIDITY")[1][0])
        finally:
            client.logout()


def _dovecot_config(base: Path, port: int, cert: MailCert) -> Path:
    me = pwd.getpwuid(os.getuid())
    # as root, mail is read by an unprivileged uid (Dovecot refuses root); otherwise by the user running the tests
    mail_user = pwd.getpwnam("nobody") if me.pw_uid == 0 else me
    mail = base / "mail"
    mail.mkdir()
    if me.pw_uid == 0:
        shutil.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
    home = f"{mail}/%u"
    (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{mail}\n")
    users = "" if me.pw_uid == 0 else f"default_login_user = {me.pw_name}\ndefault_internal_user = {me.pw_name}\n"
    config = f"""
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
instance_name = bizosaas-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert.cert}
ssl_key = <{cert.key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
mail_location = maildir:{home}/Maildir
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""
    if Path("/usr/share/dovecot/dh.pem").exists():
        config += "ssl_dh = </usr/share/dovecot/dh.pem\n"
    path = base / "dovecot.conf"
    path.write_text(config)
    return path


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def dovecot(mail_cert: MailCert):
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip(f"{DOVECOT} is missing: `apt-get install dovecot-imapd` runs the IMAP tests (.ci/run does)")
    base = Path(tempfile.mkdtemp(prefix="bizosaas-dovecot-"))
    base.chmod(0o755)  # Dovecot's unprivileged processes read the config and passwd file
    port = free_port()
    config = _dovecot_config(base, port, mail_cert)
    proc = launch([DOVECOT, "-F", "-c", config], base / "stdout.log", linked=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(port):
            log = base / "dovecot.log"
            if proc.poll() is not None or time.monotonic() > deadline:
                text = (log.read_text() if log.exists() else "") + (base / "stdout.log").read_text()
                raise RuntimeError(f"dovecot did not start on {port}: {text[-2000:]}")
            time.sleep(0.05)
        yield Dovecot("localhost", port, USER, PASSWORD, mail_cert)
    finally:
        proc.terminate()  # the master stops its children
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


class Collect:
    """aiosmtpd's handler: every accepted message, with its envelope."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    async def handle_RCPT(self, server, session, envelope: Envelope, address: str, rcpt_options) -> str:
        if address.endswith("@refused.test"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    handler: Collect
    logins: list[str] = field(default_factory=list)


@pytest.fixture
async def smtp_server(mail_cert: MailCert):
    """aiosmtpd on a free port: STARTTLS required, then AUTH (Dovecot's user), on this test's event loop."""
    import asyncio

    handler, user, password = Collect(), USER, PASSWORD  # one mailbox account for both, as at a mail provider
    logins: list[str] = []

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(),
            password.encode(),
        )
        if ok:
            logins.append(user)
        return AuthResult(success=ok, handled=False)  # a failure answered 535 by aiosmtpd

    context = mail_cert.server_context()

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="localhost",
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=True,
        )

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpServer("localhost", port, user, password, handler, logins)
    finally:
        server.close()
        await server.wait_closed()

"""Email (SMTP and IMAP): the `send_email` action through a real SMTP client (smtp.py, with templates from the
connector's config: templates.py), and inbound mail and bounces read from an IMAP mailbox by the `messages` sync
(imap.py, parsed in a thread with size caps; mapping.py). Both mail hosts obey the public-address rule (hosts.py).
Mail arrives by sync, never by webhook: PROVIDER refuses every delivery."""

from connectors.base import NoWebhooks

PROVIDER = NoWebhooks("email", "mail is read from the IMAP mailbox by the sync, not delivered by webhook")

__all__ = ["PROVIDER"]

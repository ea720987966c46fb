"""WhatsApp Cloud API webhooks: Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"id": <WABA id>,
"changes": [{"field": "messages", "value": {...}}]}]}` to the app's Callback URL, signed with
`X-Hub-Signature-256: sha256=hex(HMAC-SHA256(app secret, raw body))`.

Endpoint check: when the Callback URL is saved, Meta sends `GET <url>?hub.mode=subscribe&hub.verify_token=<the
verify token typed beside it>&hub.challenge=<n>`; `challenge` answers the challenge as plain text when the token is
the connector's (`verify_token` in Vault, compared in constant time), and refuses it otherwise (the gateway answers
403: gateway/routes_webhooks.py `GET /v1/webhooks/{connector_id}`). Both are Meta's, shared with Meta Ads:
connectors/providers/meta_common/hub.py.

Topic: the first change's `field` (`messages`: inbound messages and statuses of sent ones;
`message_template_status_update`: a template approved, rejected, paused ..., which asks the template sync to run).
Delivery id: none is sent: deliveries are deduplicated on the body's hash (a retry resends the same bytes).
Content-Encoding: none documented. Registered by hand (the app's WhatsApp > Configuration page).

Inbound text reaches records, search and agents as data: what a customer writes may read like instructions, and no
part of the platform acts on it without the agents' approval rules (agents/allowlist.py lists no send action).
"""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder
from connectors.providers.meta_common.hub import ChangeMapper, GraphWebhooks
from connectors.providers.whatsapp.mapping import inbound, status

TEMPLATE_STATUS = "message_template_status_update"


def _messages(out: EventBuilder, value: dict[str, Any]) -> None:
    for msg in value.get("messages") or []:
        inbound(out, value, msg)
    for state in value.get("statuses") or []:
        status(out, value, state)


def _template_status(out: EventBuilder, value: dict[str, Any]) -> None:
    out.notify("message_template", value["message_template_id"], "message_templates", "update")


# Meta's webhook field -> the mapper of one change's value
FIELDS: dict[str, ChangeMapper] = {
    "messages": _messages,
    TEMPLATE_STATUS: _template_status,
}


WEBHOOKS = GraphWebhooks("whatsapp", "whatsapp_business_account", FIELDS)

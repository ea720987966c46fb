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

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, WebhookRequest
from connectors.normalize import EventBuilder, json_object, run_mapper
from connectors.providers.meta_common.hub import connector_challenge, first_field, verify_signature
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
FIELDS: dict[str, Callable[[EventBuilder, dict[str, Any]], None]] = {
    "messages": _messages,
    TEMPLATE_STATUS: _template_status,
}


class WhatsAppProvider:
    provider: ClassVar[str] = "whatsapp"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset()
    topics: ClassVar[frozenset[str]] = frozenset(FIELDS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_signature(request, secrets)

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return None  # Meta sends none: the body's hash

    def topic(self, request: WebhookRequest) -> str:
        return first_field(request)

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None  # the endpoint check is a GET: `challenge`

    def challenge(self, query: Mapping[str, str], secrets: Mapping[str, Any]) -> Handshake | None:
        """The GET verification request, against the connector's verify token."""
        return connector_challenge(query, secrets, "whatsapp")

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Any]:
        if topic not in FIELDS:
            raise NormalizeError(f"whatsapp topic {topic!r} has no mapping")
        payload = json_object(request.body, f"whatsapp {topic}")
        if payload.get("object") != "whatsapp_business_account":
            raise NormalizeError(f"whatsapp {topic}: not a whatsapp_business_account notification")

        def emit(out: EventBuilder) -> None:
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    mapper = FIELDS.get(change["field"])
                    if mapper is None:
                        raise NormalizeError(f"field {change['field']!r} has no mapping")
                    mapper(out, change["value"])

        return run_mapper(ctx, self.provider, topic, emit)


WEBHOOKS = WhatsAppProvider()

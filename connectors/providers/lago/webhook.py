"""Lago webhooks: `{"webhook_type": "invoice.created", "object_type": "invoice", "invoice": {...}}`, with
`X-Lago-Signature`, `X-Lago-Signature-Algorithm` and `X-Lago-Unique-Key` headers (getlago.com/docs,
"API reference > Webhooks > Format & Signature").

Signature: an endpoint is created with `hmac` or `jwt` (the default). Only hmac is accepted here: `X-Lago-Signature`
= base64(HMAC-SHA256(key, raw body)), the key being the workspace's HMAC signature token (Developers > Webhooks; the
docs' example and older lago-api versions key it with the organization's API key, so that is what to paste for
those). A jwt-signed delivery is refused with the fix in the log line (recreate the endpoint with hmac): verifying
RS256 needs Lago's public key, fetched with the API key, which is not built.

Delivery id: `X-Lago-Unique-Key` ("can be used to ensure you process a webhook only once"; lago-api sends the webhook
record's id, kept on its retries): unique per payload. Content-Encoding: none documented. Registered by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, body_field, json_object, run_mapper, text
from connectors.providers.lago.mapping import OBJECTS, changed_at
from connectors.signatures import b64, header, utf8_keys, verify_hmac
from events.types import Event

SIGNATURE_HEADER = "x-lago-signature"
ALGORITHM_HEADER = "x-lago-signature-algorithm"
DELIVERY_ID_HEADER = "x-lago-unique-key"

# the webhook types of the mapped objects (lago-openapi src/webhooks/): -> deleted?
TOPICS: dict[str, bool] = {
    "customer.created": False,
    "customer.updated": False,
    "subscription.started": False,
    "subscription.updated": False,
    "subscription.terminated": False,  # kept, status terminated (as Stripe's canceled subscriptions)
    "subscription.canceled": False,
    "subscription.trial_ended": False,
    "subscription.incomplete": False,
    "invoice.created": False,
    "invoice.drafted": False,
    "invoice.generated": False,
    "invoice.one_off_created": False,
    "invoice.add_on_added": False,
    "invoice.paid_credit_added": False,
    "invoice.voided": False,
    "invoice.payment_status_updated": False,
    "invoice.payment_overdue": False,
    "invoice.payment_failure": False,
    "invoice.payment_dispute_lost": False,
    "invoice.resynced": False,
    "invoice.deleted": True,  # a draft invoice removed
}


class LagoProvider:
    provider = "lago"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True
    kept_headers = frozenset({ALGORITHM_HEADER, DELIVERY_ID_HEADER})
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        algorithm = (header(request.headers, ALGORITHM_HEADER) or "").strip().lower()
        if algorithm != "hmac":
            raise SignatureError(
                f"X-Lago-Signature-Algorithm {algorithm or 'missing'!r}: only hmac is accepted; create the Lago "
                "webhook endpoint with the HMAC signature"
            )
        signature = header(request.headers, SIGNATURE_HEADER)
        verify_hmac(utf8_keys(secrets), request.body, [signature] if signature else [], b64, "X-Lago-Signature")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return header(request.headers, DELIVERY_ID_HEADER)

    def topic(self, request: WebhookRequest) -> str:
        return body_field(request.body, "webhook_type")

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        if topic not in TOPICS:
            raise NormalizeError(f"lago {topic}: not a mapped webhook type")
        payload = json_object(request.body, f"lago {topic}")
        object_type = text(payload.get("object_type"))
        obj = payload.get(object_type)
        if object_type not in OBJECTS or not isinstance(obj, dict):
            raise NormalizeError(f"lago {topic}: no {object_type or 'object_type'!r} object to map")
        kind, mapper = OBJECTS[object_type]

        def emit(out: EventBuilder) -> None:
            if TOPICS[topic]:
                out.delete(kind, obj.get("lago_id"), changed_at(obj))
            else:
                out.upsert(kind, obj.get("lago_id"), changed_at(obj), mapper(obj))

        return run_mapper(ctx, self.provider, topic, emit)

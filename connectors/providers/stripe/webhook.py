"""Stripe webhooks: an Event object `{id, type, created, data: {object}}`, signed in
`Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]` with hex(HMAC-SHA256(endpoint secret "whsec_...", "<ts>.<body>")).

Amounts are already integer minor units. The kind follows the object the event carries (`data.object.object`), so one
table covers every event type of an object; a `*.deleted` event deletes it, except a subscription, which Stripe
"deletes" by cancelling it: its record stays, with status `canceled`.

Delivery id: unique per payload. The Event's `id` (evt_...) names one event object, resent unchanged on every retry
(Stripe's "handle duplicate events" guidance: log the event ids you have processed). Content-Encoding: none
documented. Registered by hand (Dashboard > Developers > Webhooks, which shows the whsec_ signing secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from connectors.base import Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import EventBuilder, body_field, json_object, run_mapper, text, utc_time
from connectors.providers.stripe.mapping import KEPT_WHEN_DELETED, OBJECTS
from connectors.signatures import check_timestamp, header, hexdigest, utf8_keys, verify_hmac
from events.types import Event

SIGNATURE_HEADER = "stripe-signature"
# the event types of the mapped objects (Stripe's event type list): the metrics' topic label values
TOPICS = frozenset(
    {
        *(
            f"payment_intent.{e}"
            for e in (
                "created",
                "succeeded",
                "payment_failed",
                "canceled",
                "processing",
                "requires_action",
                "amount_capturable_updated",
                "partially_funded",
            )
        ),
        *(
            f"customer.subscription.{e}"
            for e in (
                "created",
                "updated",
                "deleted",
                "paused",
                "resumed",
                "trial_will_end",
                "pending_update_applied",
                "pending_update_expired",
            )
        ),
        *(
            f"invoice.{e}"
            for e in (
                "created",
                "updated",
                "deleted",
                "finalized",
                "finalization_failed",
                "paid",
                "payment_failed",
                "payment_succeeded",
                "payment_action_required",
                "sent",
                "upcoming",
                "voided",
                "marked_uncollectible",
                "overdue",
                "will_be_due",
            )
        ),
        *(f"customer.{e}" for e in ("created", "updated", "deleted")),
        *(f"product.{e}" for e in ("created", "updated", "deleted")),
        *(f"checkout.session.{e}" for e in ("completed", "expired", "async_payment_succeeded", "async_payment_failed")),
    }
)


def _parse_signature(value: str | None) -> tuple[str | None, list[str]]:
    """`t=<ts>,v1=<hex>,v1=<hex>,v0=<hex>` -> (t, [v1 signatures]); v0 is ignored, as Stripe's SDKs do."""
    timestamp, signatures = None, []
    for item in (value or "").split(","):
        key, _, val = item.strip().partition("=")
        if key == "t":
            timestamp = val
        elif key == "v1" and val:
            signatures.append(val)
    return timestamp, signatures


@dataclass(frozen=True)
class StripeProvider:
    tolerance_s: float | None = 300.0  # Stripe's SDK default; None disables the check (replaying old fixtures)

    provider: ClassVar[str] = "stripe"
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    content_encodings: ClassVar[frozenset[str]] = frozenset()
    delivery_id_unique: ClassVar[bool] = True
    kept_headers: ClassVar[frozenset[str]] = frozenset()  # everything Stripe says is in the body
    topics: ClassVar[frozenset[str]] = TOPICS

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        value = header(request.headers, SIGNATURE_HEADER)
        if not value:
            raise SignatureError("Stripe-Signature: missing")
        timestamp, signatures = _parse_signature(value)
        check_timestamp(timestamp, now_s, self.tolerance_s, "Stripe-Signature t")
        message = f"{timestamp.strip()}.".encode() + request.body
        verify_hmac(utf8_keys(secrets), message, signatures, hexdigest, "Stripe-Signature v1")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return body_field(request.body, "id") or None  # evt_...: the same on every retry of the event

    def topic(self, request: WebhookRequest) -> str:
        return body_field(request.body, "type")

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        event = json_object(request.body, f"stripe {topic}")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise NormalizeError(f"stripe {topic}: the event has no data.object")
        object_type = text(obj.get("object"))
        if object_type not in OBJECTS:
            raise NormalizeError(f"stripe {topic}: objects of type {object_type!r} have no mapping")
        kind, mapper = OBJECTS[object_type]

        def emit(out: EventBuilder) -> None:
            occurred_at = utc_time(event["created"])  # the event's creation: when the object reached this state
            if topic.endswith(".deleted") and object_type not in KEPT_WHEN_DELETED:
                out.delete(kind, obj["id"], occurred_at)
            else:
                out.upsert(kind, obj.get("id"), occurred_at, mapper(obj))

        return run_mapper(ctx, self.provider, topic, emit)

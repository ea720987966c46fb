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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from connectors.base import BY_HAND, Handshake, IngestContext, NormalizeError, SignatureError, WebhookRequest
from connectors.normalize import (
    EventBuilder,
    address,
    body_field,
    compact,
    json_object,
    minor_units,
    opt_iso,
    opt_text,
    opt_time,
    run_mapper,
    text,
    utc_time,
)
from connectors.signatures import check_timestamp, header, hexdigest, utf8_keys, verify_hmac
from events.entities import Contact, Entity, Invoice, Order, Payment, Product, Subscription
from events.types import Event

SIGNATURE_HEADER = "stripe-signature"
ADDRESS_FIELDS = {
    "line1": "line1",
    "line2": "line2",
    "city": "city",
    "region": "state",
    "postal_code": "postal_code",
    "country": "country",
}


def _id(value: Any) -> str | None:
    """A reference that is an id, or an expanded object carrying one."""
    return opt_text(value.get("id") if isinstance(value, dict) else value)


def _currency(obj: dict[str, Any]) -> str:
    return text(obj.get("currency")).upper() or "USD"


def _payment(pi: dict[str, Any]) -> Entity:
    methods = pi.get("payment_method_types") or []
    return Payment(
        status=text(pi.get("status")),
        currency=_currency(pi),
        amount_minor=minor_units(pi.get("amount")),
        customer_external_id=_id(pi.get("customer")),
        method=text(methods[0]) if methods else "",
        provider_data=compact(
            amount_received=pi.get("amount_received"),
            invoice=_id(pi.get("invoice")),
            payment_method=_id(pi.get("payment_method")),
            description=pi.get("description"),
            livemode=pi.get("livemode") or None,
        ),
    )


def _unit_amount(item: dict[str, Any]) -> int:
    price = item.get("price") or item.get("plan") or {}  # a price has unit_amount, a legacy plan amount
    return minor_units(price.get("unit_amount", price.get("amount")))


def _subscription(sub: dict[str, Any]) -> Entity:
    items = (sub.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    price = first.get("price") or first.get("plan") or sub.get("plan") or {}
    recurring = price.get("recurring") or {}
    amount = sum(_unit_amount(i) * int(i.get("quantity") or 1) for i in items)
    return Subscription(
        status=text(sub.get("status")),
        customer_external_id=_id(sub.get("customer")),
        plan=text(price.get("nickname") or price.get("id")),
        currency=_currency(sub) if sub.get("currency") else _currency(price),
        amount_minor=amount,
        interval=text(recurring.get("interval") or price.get("interval")),
        current_period_end=opt_time(sub.get("current_period_end") or first.get("current_period_end")),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        provider_data=compact(
            price=price.get("id"),
            product=_id(price.get("product")),
            quantity=sum(int(i.get("quantity") or 1) for i in items) or None,
            latest_invoice=_id(sub.get("latest_invoice")),
            canceled_at=opt_iso(sub.get("canceled_at")),
            trial_end=opt_iso(sub.get("trial_end")),
        ),
    )


def _invoice(inv: dict[str, Any]) -> Entity:
    return Invoice(
        number=text(inv.get("number")),
        status=text(inv.get("status")),
        currency=_currency(inv),
        total_minor=minor_units(inv.get("total")),
        amount_due_minor=minor_units(inv.get("amount_due")),
        amount_paid_minor=minor_units(inv.get("amount_paid")),
        customer_external_id=_id(inv.get("customer")),
        subscription_external_id=_id(inv.get("subscription")),
        due_at=opt_time(inv.get("due_date")),
        provider_data=compact(
            billing_reason=inv.get("billing_reason"),
            customer_email=inv.get("customer_email"),
            period_start=opt_iso(inv.get("period_start")),
            period_end=opt_iso(inv.get("period_end")),
        ),
    )


def _customer(c: dict[str, Any]) -> Entity:
    first, _, last = text(c.get("name")).strip().partition(" ")
    found = address(c.get("address"), ADDRESS_FIELDS)
    return Contact(
        email=opt_text(c.get("email")),
        phone=opt_text(c.get("phone")),
        first_name=first,
        last_name=last.strip(),
        addresses=[found] if found else [],
        provider_data=compact(description=c.get("description"), delinquent=c.get("delinquent") or None),
    )


def _product(p: dict[str, Any]) -> Entity:
    return Product(
        name=text(p.get("name")),
        status="active" if p.get("active") else "archived",
        description=text(p.get("description")),
        url=opt_text(p.get("url")),
        provider_data=compact(default_price=_id(p.get("default_price"))),
    )


def _checkout_session(s: dict[str, Any]) -> Entity:
    totals = s.get("total_details") or {}
    details = s.get("customer_details") or {}
    return Order(
        number=text(s.get("id")),
        status=text(s.get("status")),
        currency=_currency(s),
        subtotal_minor=minor_units(s.get("amount_subtotal")),
        tax_minor=minor_units(totals.get("amount_tax")),
        shipping_minor=minor_units(totals.get("amount_shipping")),
        discount_minor=minor_units(totals.get("amount_discount")),
        total_minor=minor_units(s.get("amount_total")),
        customer_external_id=_id(s.get("customer")),
        customer_email=opt_text(details.get("email") or s.get("customer_email")),
        placed_at=opt_time(s.get("created")),
        provider_data=compact(
            payment_status=s.get("payment_status"),
            mode=s.get("mode"),
            payment_intent=_id(s.get("payment_intent")),
            subscription=_id(s.get("subscription")),
            client_reference_id=s.get("client_reference_id"),
        ),
    )


# data.object.object -> (our kind, mapper)
OBJECTS: dict[str, tuple[str, Callable[[dict[str, Any]], Entity]]] = {
    "payment_intent": ("payment", _payment),
    "subscription": ("subscription", _subscription),
    "invoice": ("invoice", _invoice),
    "customer": ("contact", _customer),
    "product": ("product", _product),
    "checkout.session": ("order", _checkout_session),
}
KEPT_WHEN_DELETED = frozenset({"subscription"})
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
    webhook_registration: ClassVar[str] = BY_HAND
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


PROVIDER = StripeProvider()

"""Stripe API objects (payment intents, subscriptions, invoices, customers, products, checkout sessions) ->
entities. A webhook event carries the object in `data.object` (webhook.py); a sync lists the same objects from the
API, so both map them here. Amounts are already integer minor units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.normalize import address, compact, minor_units, opt_iso, opt_text, opt_time, text
from events.entities import Contact, Entity, Invoice, Order, Payment, Product, Subscription

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


def payment(pi: dict[str, Any]) -> Entity:
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


def subscription(sub: dict[str, Any]) -> Entity:
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


def invoice(inv: dict[str, Any]) -> Entity:
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


def customer(c: dict[str, Any]) -> Entity:
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


def product(p: dict[str, Any]) -> Entity:
    return Product(
        name=text(p.get("name")),
        status="active" if p.get("active") else "archived",
        description=text(p.get("description")),
        url=opt_text(p.get("url")),
        provider_data=compact(default_price=_id(p.get("default_price"))),
    )


def checkout_session(s: dict[str, Any]) -> Entity:
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
    "payment_intent": ("payment", payment),
    "subscription": ("subscription", subscription),
    "invoice": ("invoice", invoice),
    "customer": ("contact", customer),
    "product": ("product", product),
    "checkout.session": ("order", checkout_session),
}
KEPT_WHEN_DELETED = frozenset({"subscription"})

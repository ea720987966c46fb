"""Lago API objects (customers, subscriptions, invoices) -> entities. A webhook carries the object under its
`object_type` (`{"webhook_type": "customer.updated", "object_type": "customer", "customer": {...}}`); a sync lists the
same objects, so both map them here. Lago's own id (`lago_id`, a UUID) is the record's id; the `external_id` the
platform gave it is kept in provider_data. Amounts are already integer cents (`*_amount_cents`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.normalize import EventBuilder, address, compact, minor_units, opt_iso, opt_text, opt_time, text
from events.entities import Contact, Entity, Invoice, Subscription

ADDRESS_FIELDS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "city",
    "region": "state",
    "postal_code": "zipcode",
    "country": "country",
}


def changed_at(obj: dict[str, Any]) -> datetime | None:
    """When the object reached this state: its `updated_at` (customers, invoices in recent Lago versions). A
    subscription carries none (a plan change moves none of its lifecycle times), nor does an older invoice whose
    payment status changed: None, so the provider time is the receipt or the read (the state is at least that new),
    as for Stripe."""
    return opt_time(obj.get("updated_at"))


def customer(c: dict[str, Any]) -> Entity:
    first, last = text(c.get("firstname")), text(c.get("lastname"))
    if not (first or last):
        first, _, last = text(c.get("name")).strip().partition(" ")
    found = address(c, ADDRESS_FIELDS)
    return Contact(
        email=opt_text(c.get("email")),
        phone=opt_text(c.get("phone")),
        first_name=first,
        last_name=last.strip(),
        company=text(c.get("legal_name")),
        addresses=[found] if found else [],
        provider_data=compact(
            external_id=c.get("external_id"),
            sequential_id=c.get("sequential_id"),
            slug=c.get("slug"),
            currency=c.get("currency"),
            timezone=c.get("applicable_timezone"),
        ),
    )


def subscription(s: dict[str, Any]) -> Entity:
    plan = s.get("plan") if isinstance(s.get("plan"), dict) else {}
    return Subscription(
        status=text(s.get("status")),
        customer_external_id=opt_text(s.get("lago_customer_id")),
        plan=text(s.get("plan_code")),
        currency=text(plan.get("amount_currency")).upper() or "USD",
        amount_minor=minor_units(plan.get("amount_cents")),
        interval={"monthly": "month", "yearly": "year", "weekly": "week", "quarterly": "quarter"}.get(
            text(plan.get("interval")), text(plan.get("interval"))
        ),
        current_period_end=opt_time(s.get("current_billing_period_ending_at")),
        provider_data=compact(
            external_id=s.get("external_id"),
            external_customer_id=s.get("external_customer_id"),
            name=s.get("name"),
            billing_time=s.get("billing_time"),
            started_at=opt_iso(s.get("started_at")),
            ending_at=opt_iso(s.get("ending_at")),
            canceled_at=opt_iso(s.get("canceled_at")),
            terminated_at=opt_iso(s.get("terminated_at")),
            next_plan_code=s.get("next_plan_code"),
        ),
    )


def invoice(i: dict[str, Any]) -> Entity:
    total = minor_units(i.get("total_amount_cents"))
    paid = i.get("payment_status") == "succeeded"
    due = i.get("total_due_amount_cents")
    buyer = i.get("customer") if isinstance(i.get("customer"), dict) else {}
    subscriptions = [s for s in i.get("subscriptions") or [] if isinstance(s, dict)]
    return Invoice(
        number=text(i.get("number")),
        status=text(i.get("status")),
        currency=text(i.get("currency")).upper() or "USD",
        total_minor=total,
        amount_due_minor=minor_units(due) if due is not None else (0 if paid else total),
        amount_paid_minor=minor_units(i.get("total_paid_amount_cents"))
        if "total_paid_amount_cents" in i
        else (total if paid else 0),
        customer_external_id=opt_text(buyer.get("lago_id")),
        subscription_external_id=opt_text(subscriptions[0].get("lago_id")) if subscriptions else None,
        due_at=opt_time(i.get("payment_due_date")),
        provider_data=compact(
            payment_status=i.get("payment_status"),
            invoice_type=i.get("invoice_type"),
            issuing_date=i.get("issuing_date"),
            taxes_amount_cents=i.get("taxes_amount_cents"),
            payment_overdue=i.get("payment_overdue") or None,
            file_url=i.get("file_url"),
        ),
    )


# object_type -> (our kind, mapper)
OBJECTS: dict[str, tuple[str, Callable[[dict[str, Any]], Entity]]] = {
    "customer": ("contact", customer),
    "subscription": ("subscription", subscription),
    "invoice": ("invoice", invoice),
}


def _upsert(object_type: str):
    kind, mapper = OBJECTS[object_type]

    def emit(out: EventBuilder, obj: dict[str, Any]) -> None:
        out.upsert(kind, obj["lago_id"], changed_at(obj), mapper(obj))

    return emit


MAPPERS = {kind: _upsert(object_type) for object_type, (kind, _) in OBJECTS.items()}

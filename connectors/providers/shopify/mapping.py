"""Shopify Admin API resources (orders, customers, products) -> entities. A webhook's body is the bare resource
(webhook.py); a sync reads the same resources from the Admin API, so both map them here. Times carry the shop's
offset (converted to UTC)."""

from __future__ import annotations

from typing import Any

from connectors.normalize import EventBuilder, address, compact, minor, opt_iso, opt_text, opt_time, text
from events.entities import Contact, Order, OrderLine, Product

MODIFIED_FIELD = "updated_at"
ADDRESS_FIELDS = {
    "line1": "address1",
    "line2": "address2",
    "city": "city",
    "region": "province_code",
    "postal_code": "zip",
    "country": "country_code",
}


def tags(value: Any) -> list[str]:
    return [t.strip() for t in text(value).split(",") if t.strip()]


def customer(c: dict[str, Any]) -> Contact:
    listed = c.get("addresses")
    addresses = [address(a, ADDRESS_FIELDS) for a in listed] if isinstance(listed, list) else []
    consent = c.get("email_marketing_consent") or {}
    return Contact(
        email=opt_text(c.get("email")),
        phone=opt_text(c.get("phone")),
        first_name=text(c.get("first_name")),
        last_name=text(c.get("last_name")),
        tags=tags(c.get("tags")),
        addresses=[a for a in addresses if a],
        accepts_marketing=bool(c.get("accepts_marketing")) or consent.get("state") == "subscribed",
        provider_data=compact(
            state=c.get("state"),
            orders_count=c.get("orders_count"),
            total_spent=c.get("total_spent"),
            verified_email=c.get("verified_email"),
        ),
    )


def line(item: dict[str, Any], currency: str) -> OrderLine:
    quantity = int(item.get("quantity", 1))
    unit = minor(item.get("price"), currency)
    allocations = item.get("discount_allocations")
    discount = (
        sum(minor(a.get("amount"), currency) for a in allocations)
        if allocations
        else minor(item.get("total_discount"), currency)
    )
    return OrderLine(
        external_id=text(item.get("id")),
        product_external_id=opt_text(item.get("product_id")),
        sku=text(item.get("sku")),
        name=text(item.get("name") or item.get("title")),
        quantity=quantity,
        unit_price_minor=unit,
        total_minor=unit * quantity - discount,
    )


def order(o: dict[str, Any]) -> Order:
    currency = text(o.get("currency")).upper() or "USD"  # the shop currency, which the plain amount fields use
    buyer = o.get("customer") or {}
    return Order(
        number=text(o.get("name") or o.get("order_number") or o["id"]),
        status="cancelled" if o.get("cancelled_at") else text(o.get("financial_status")),
        currency=currency,
        subtotal_minor=minor(o.get("subtotal_price"), currency),
        tax_minor=minor(o.get("total_tax"), currency),
        shipping_minor=sum(minor(s.get("price"), currency) for s in o.get("shipping_lines") or []),
        discount_minor=minor(o.get("total_discounts"), currency),
        total_minor=minor(o.get("total_price"), currency),
        customer_external_id=opt_text(buyer.get("id")),
        customer_email=opt_text(o.get("email")),
        line_items=[line(i, currency) for i in o.get("line_items") or []],
        billing_address=address(o.get("billing_address"), ADDRESS_FIELDS),
        shipping_address=address(o.get("shipping_address"), ADDRESS_FIELDS),
        placed_at=opt_time(o.get("created_at")),
        provider_data=compact(
            order_number=o.get("order_number"),
            financial_status=o.get("financial_status"),
            fulfillment_status=o.get("fulfillment_status"),
            cancelled_at=opt_iso(o.get("cancelled_at")),
            closed_at=opt_iso(o.get("closed_at")),
            presentment_currency=o.get("presentment_currency"),
            tags=tags(o.get("tags")),
            test=o.get("test") or None,
        ),
    )


def product(p: dict[str, Any], currency: str) -> Product:
    """`currency`: the shop's (product resources carry none)."""
    variants = p.get("variants") or []
    first = variants[0] if variants else {}
    stock = [v["inventory_quantity"] for v in variants if v.get("inventory_quantity") is not None]
    return Product(
        name=text(p.get("title")),
        sku=text(first.get("sku")),
        status=text(p.get("status")),
        currency=currency,
        price_minor=minor(first.get("price"), currency),
        description=text(p.get("body_html")),
        inventory_quantity=sum(int(s) for s in stock) if stock else None,
        categories=[text(p["product_type"])] if p.get("product_type") else [],
        provider_data=compact(
            handle=p.get("handle"), vendor=p.get("vendor"), tags=tags(p.get("tags")), variants=len(variants) or None
        ),
    )


# --- the events of one resource: kind -> mapper (connectors.normalize.normalize_resource) -----------------------


def upsert_customer(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("contact", c["id"], opt_time(c.get(MODIFIED_FIELD)), customer(c))


def upsert_order(out: EventBuilder, o: dict[str, Any]) -> None:
    occurred_at = opt_time(o.get(MODIFIED_FIELD))
    out.upsert("order", o["id"], occurred_at, order(o))
    buyer = o.get("customer") or {}
    if buyer.get("id"):
        out.upsert("contact", buyer["id"], opt_time(buyer.get(MODIFIED_FIELD)) or occurred_at, customer(buyer))


def upsert_product(out: EventBuilder, p: dict[str, Any]) -> None:
    currency = text(out.ctx.config.get("currency")).upper() or "USD"  # the connector's setting
    out.upsert("product", p["id"], opt_time(p.get(MODIFIED_FIELD)), product(p, currency))


MAPPERS = {"order": upsert_order, "contact": upsert_customer, "product": upsert_product}

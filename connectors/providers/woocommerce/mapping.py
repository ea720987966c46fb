"""WooCommerce REST API v3 resources (orders, customers, products) -> entities. A webhook's body is the resource
(webhook.py); a sync reads the same resources from the REST API, so both map them here."""

from __future__ import annotations

import html
from typing import Any

from connectors.normalize import EventBuilder, address, compact, minor, opt_iso, opt_text, opt_time, text
from events.entities import Address, Contact, Order, OrderLine, Product

MODIFIED_FIELD = "date_modified_gmt"  # UTC without an offset; `date_modified` is the site's local time
ADDRESS_FIELDS = {
    "line1": "address_1",
    "line2": "address_2",
    "city": "city",
    "region": "state",
    "postal_code": "postcode",
    "country": "country",
}


def addresses(resource: dict[str, Any]) -> list[Address]:
    """The billing and shipping addresses of a customer or order, once each."""
    found = [address(resource.get(part), ADDRESS_FIELDS) for part in ("billing", "shipping")]
    unique = []
    for item in found:
        if item is not None and item not in unique:
            unique.append(item)
    return unique


def _contact(billing: dict[str, Any], resource: dict[str, Any], addresses: list, **provider_data: Any) -> Contact:
    return Contact(
        email=opt_text(resource.get("email") or billing.get("email")),
        phone=opt_text(billing.get("phone")),
        first_name=text(resource.get("first_name") or billing.get("first_name")),
        last_name=text(resource.get("last_name") or billing.get("last_name")),
        company=text(billing.get("company")),
        addresses=addresses,
        provider_data=compact(**provider_data),
    )


def customer(c: dict[str, Any]) -> Contact:
    return _contact(
        c.get("billing") or {},
        c,
        addresses(c),
        username=c.get("username"),
        role=c.get("role"),
        is_paying_customer=c.get("is_paying_customer"),
    )


def line(item: dict[str, Any], currency: str) -> OrderLine:
    return OrderLine(
        external_id=text(item.get("id")),
        product_external_id=opt_text(item.get("product_id") or None),
        sku=text(item.get("sku")),
        name=html.unescape(text(item.get("name"))),
        quantity=int(item.get("quantity", 1)),
        unit_price_minor=minor(item.get("price"), currency),
        total_minor=minor(item.get("total"), currency),
    )


def order(o: dict[str, Any]) -> Order:
    currency = text(o.get("currency")).upper() or "USD"
    billing = o.get("billing") or {}
    items = o.get("line_items") or []
    return Order(
        number=text(o.get("number") or o["id"]),
        status=text(o.get("status")),
        currency=currency,
        subtotal_minor=sum(minor(i.get("subtotal"), currency) for i in items),
        tax_minor=minor(o.get("total_tax"), currency),
        shipping_minor=minor(o.get("shipping_total"), currency),
        discount_minor=minor(o.get("discount_total"), currency),
        total_minor=minor(o.get("total"), currency),
        customer_external_id=opt_text(o.get("customer_id") or None),  # 0 is a guest checkout
        customer_email=opt_text(billing.get("email")),
        line_items=[line(i, currency) for i in items],
        billing_address=address(billing, ADDRESS_FIELDS),
        shipping_address=address(o.get("shipping"), ADDRESS_FIELDS),
        placed_at=opt_time(o.get("date_created_gmt")),
        provider_data=compact(
            payment_method=o.get("payment_method"),
            payment_method_title=o.get("payment_method_title"),
            transaction_id=o.get("transaction_id"),
            paid_at=opt_iso(o.get("date_paid_gmt")),
            customer_note=o.get("customer_note"),
            created_via=o.get("created_via"),
        ),
    )


def buyer(o: dict[str, Any]) -> tuple[str, Contact] | None:
    """The order's buyer as (contact id, contact); a guest has no customer id, so the billing email is the key."""
    billing = o.get("billing") or {}
    billing_address = address(billing, ADDRESS_FIELDS)
    customer_id = opt_text(o.get("customer_id") or None)
    email = text(billing.get("email")).strip().lower()
    contact_id = customer_id or (f"guest:{email}" if email else None)
    if not contact_id:
        return None
    contact = _contact(
        billing, {}, [billing_address] if billing_address else [], guest=True if customer_id is None else None
    )
    return contact_id, contact


def product(p: dict[str, Any], currency: str) -> Product:
    """`currency`: the store's (product resources carry none)."""
    stock = p.get("stock_quantity")
    return Product(
        name=html.unescape(text(p.get("name"))),
        sku=text(p.get("sku")),
        status=text(p.get("status")),
        currency=currency,
        price_minor=minor(p.get("price"), currency),
        description=text(p.get("description")),
        inventory_quantity=None if stock is None else int(stock),
        categories=[html.unescape(text(c.get("name"))) for c in p.get("categories") or []],
        url=opt_text(p.get("permalink")),
        provider_data=compact(
            type=p.get("type"),
            slug=p.get("slug"),
            stock_status=p.get("stock_status"),
            regular_price=p.get("regular_price"),
            sale_price=p.get("sale_price"),
        ),
    )


# --- the events of one resource: kind -> mapper (connectors.normalize.normalize_resource) -----------------------


def upsert_customer(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("contact", c["id"], opt_time(c.get(MODIFIED_FIELD)), customer(c))


def upsert_order(out: EventBuilder, o: dict[str, Any]) -> None:
    occurred_at = opt_time(o.get(MODIFIED_FIELD))
    out.upsert("order", o["id"], occurred_at, order(o))
    found = buyer(o)
    if found:
        out.upsert("contact", found[0], occurred_at, found[1])


def upsert_product(out: EventBuilder, p: dict[str, Any]) -> None:
    currency = text(out.ctx.config.get("currency")).upper() or "USD"  # the connector's setting
    out.upsert("product", p["id"], opt_time(p.get(MODIFIED_FIELD)), product(p, currency))


MAPPERS = {"order": upsert_order, "contact": upsert_customer, "product": upsert_product}

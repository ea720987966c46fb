"""Shopify webhooks: the body is the bare resource (no {"order": ...} wrapper), signed with
base64(HMAC-SHA256(app client secret, body)) in X-Shopify-Hmac-Sha256; times carry the shop's offset.

Delivery id: unique per payload. X-Shopify-Webhook-Id identifies one webhook delivery and is kept on its retries
(Shopify's "ignore duplicates" guidance, and the official shopify-api-js validation, which requires it).
Content-Encoding: none documented. Registered by hand (a custom app's webhook subscription or the admin's
Notifications > Webhooks) until set-up registers subscriptions through the Admin API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import BY_HAND, Handshake, IngestContext, WebhookRequest
from connectors.normalize import (
    DELETE,
    UPSERT,
    EventBuilder,
    address,
    compact,
    minor,
    normalize_resource,
    opt_iso,
    opt_text,
    opt_time,
    text,
)
from connectors.signatures import header, verify_body_b64
from events.entities import Contact, Order, OrderLine, Product
from events.types import Event

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
DELIVERY_ID_HEADER = "x-shopify-webhook-id"

TOPICS = {
    "orders/create": ("order", UPSERT),
    "orders/updated": ("order", UPSERT),
    "orders/paid": ("order", UPSERT),
    "orders/cancelled": ("order", UPSERT),
    "orders/fulfilled": ("order", UPSERT),
    "orders/partially_fulfilled": ("order", UPSERT),
    "orders/delete": ("order", DELETE),
    "customers/create": ("contact", UPSERT),
    "customers/update": ("contact", UPSERT),
    "customers/enable": ("contact", UPSERT),
    "customers/disable": ("contact", UPSERT),
    "customers/delete": ("contact", DELETE),
    "products/create": ("product", UPSERT),
    "products/update": ("product", UPSERT),
    "products/delete": ("product", DELETE),
}
MODIFIED_FIELD = "updated_at"
ADDRESS_FIELDS = {
    "line1": "address1",
    "line2": "address2",
    "city": "city",
    "region": "province_code",
    "postal_code": "zip",
    "country": "country_code",
}


def _tags(value: Any) -> list[str]:
    return [t.strip() for t in text(value).split(",") if t.strip()]


def _contact(c: dict[str, Any]) -> Contact:
    listed = c.get("addresses")
    addresses = [address(a, ADDRESS_FIELDS) for a in listed] if isinstance(listed, list) else []
    consent = c.get("email_marketing_consent") or {}
    return Contact(
        email=opt_text(c.get("email")),
        phone=opt_text(c.get("phone")),
        first_name=text(c.get("first_name")),
        last_name=text(c.get("last_name")),
        tags=_tags(c.get("tags")),
        addresses=[a for a in addresses if a],
        accepts_marketing=bool(c.get("accepts_marketing")) or consent.get("state") == "subscribed",
        provider_data=compact(
            state=c.get("state"),
            orders_count=c.get("orders_count"),
            total_spent=c.get("total_spent"),
            verified_email=c.get("verified_email"),
        ),
    )


def _customer(out: EventBuilder, c: dict[str, Any]) -> None:
    out.upsert("contact", c["id"], opt_time(c.get(MODIFIED_FIELD)), _contact(c))


def _line(item: dict[str, Any], currency: str) -> OrderLine:
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


def _order(out: EventBuilder, o: dict[str, Any]) -> None:
    currency = text(o.get("currency")).upper() or "USD"  # the shop currency, which the plain amount fields use
    customer = o.get("customer") or {}
    occurred_at = opt_time(o.get(MODIFIED_FIELD))
    order = Order(
        number=text(o.get("name") or o.get("order_number") or o["id"]),
        status="cancelled" if o.get("cancelled_at") else text(o.get("financial_status")),
        currency=currency,
        subtotal_minor=minor(o.get("subtotal_price"), currency),
        tax_minor=minor(o.get("total_tax"), currency),
        shipping_minor=sum(minor(s.get("price"), currency) for s in o.get("shipping_lines") or []),
        discount_minor=minor(o.get("total_discounts"), currency),
        total_minor=minor(o.get("total_price"), currency),
        customer_external_id=opt_text(customer.get("id")),
        customer_email=opt_text(o.get("email")),
        line_items=[_line(i, currency) for i in o.get("line_items") or []],
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
            tags=_tags(o.get("tags")),
            test=o.get("test") or None,
        ),
    )
    out.upsert("order", o["id"], occurred_at, order)
    if customer.get("id"):
        out.upsert("contact", customer["id"], opt_time(customer.get(MODIFIED_FIELD)) or occurred_at, _contact(customer))


def _product(out: EventBuilder, p: dict[str, Any]) -> None:
    currency = text(out.ctx.config.get("currency")).upper() or "USD"  # product payloads carry no currency
    variants = p.get("variants") or []
    first = variants[0] if variants else {}
    stock = [v["inventory_quantity"] for v in variants if v.get("inventory_quantity") is not None]
    product = Product(
        name=text(p.get("title")),
        sku=text(first.get("sku")),
        status=text(p.get("status")),
        currency=currency,
        price_minor=minor(first.get("price"), currency),
        description=text(p.get("body_html")),
        inventory_quantity=sum(int(s) for s in stock) if stock else None,
        categories=[text(p["product_type"])] if p.get("product_type") else [],
        provider_data=compact(
            handle=p.get("handle"), vendor=p.get("vendor"), tags=_tags(p.get("tags")), variants=len(variants) or None
        ),
    )
    out.upsert("product", p["id"], opt_time(p.get(MODIFIED_FIELD)), product)


MAPPERS = {"order": _order, "contact": _customer, "product": _product}


class ShopifyProvider:
    provider = "shopify"
    content_types = frozenset({"application/json"})
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = True
    webhook_registration = BY_HAND
    kept_headers = frozenset(
        {
            TOPIC_HEADER,
            DELIVERY_ID_HEADER,
            "x-shopify-shop-domain",
            "x-shopify-api-version",
            "x-shopify-triggered-at",
            "x-shopify-event-id",
            "x-shopify-test",
            "x-shopify-sub-topic",
        }
    )
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_body_b64(request.headers, request.body, secrets, SIGNATURE_HEADER, "X-Shopify-Hmac-Sha256")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return header(request.headers, DELIVERY_ID_HEADER)

    def topic(self, request: WebhookRequest) -> str:
        return header(request.headers, TOPIC_HEADER) or ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        return normalize_resource(ctx, self.provider, topic, request.body, TOPICS, MAPPERS, MODIFIED_FIELD)


PROVIDER = ShopifyProvider()

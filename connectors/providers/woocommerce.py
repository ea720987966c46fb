"""WooCommerce webhooks: the body is the REST API v3 resource, signed with base64(HMAC-SHA256(secret, body)).

Saving a webhook in WooCommerce first sends an unsigned, form-encoded ping `webhook_id=<id>` that must be answered
200 or the webhook is shown as failing (WC_Webhook::deliver_ping sends no signature header).

Delivery id: NOT unique per payload. WC_Webhook::get_new_delivery_id() is `wp_hash($webhook_id . strtotime('now'))`:
two deliveries of one webhook within the same second (a bulk edit) share it. Deduplication therefore keys on the id
and the body's SHA-256; a genuine resend (same id, same bytes) is still a duplicate. Content-Encoding: none (the
WordPress HTTP API sends the body as is). Registered by hand (WooCommerce > Settings > Advanced > Webhooks).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from connectors.base import BY_HAND, Handshake, IngestContext, WebhookRequest
from connectors.normalize import (
    DELETE,
    UPSERT,
    EventBuilder,
    address,
    compact,
    form_fields,
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

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
RESOURCE_HEADER, EVENT_HEADER = "x-wc-webhook-resource", "x-wc-webhook-event"
# current core is believed to send X-WC-Webhook-Delivery-ID, the REST docs say X-WC-Delivery-ID: accept both
DELIVERY_ID_HEADERS = ("x-wc-webhook-delivery-id", "x-wc-delivery-id")

FORM = "application/x-www-form-urlencoded"
TOPICS = {
    "order.created": ("order", UPSERT),
    "order.updated": ("order", UPSERT),
    "order.restored": ("order", UPSERT),
    "order.deleted": ("order", DELETE),
    "customer.created": ("contact", UPSERT),
    "customer.updated": ("contact", UPSERT),
    "customer.deleted": ("contact", DELETE),
    "product.created": ("product", UPSERT),
    "product.updated": ("product", UPSERT),
    "product.restored": ("product", UPSERT),
    "product.deleted": ("product", DELETE),
}
MODIFIED_FIELD = "date_modified_gmt"  # UTC without an offset; `date_modified` is the site's local time
ADDRESS_FIELDS = {
    "line1": "address_1",
    "line2": "address_2",
    "city": "city",
    "region": "state",
    "postal_code": "postcode",
    "country": "country",
}


def _addresses(resource: dict[str, Any]) -> list:
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


def _customer(out: EventBuilder, c: dict[str, Any]) -> None:
    contact = _contact(
        c.get("billing") or {},
        c,
        _addresses(c),
        username=c.get("username"),
        role=c.get("role"),
        is_paying_customer=c.get("is_paying_customer"),
    )
    out.upsert("contact", c["id"], opt_time(c.get(MODIFIED_FIELD)), contact)


def _line(item: dict[str, Any], currency: str) -> OrderLine:
    return OrderLine(
        external_id=text(item.get("id")),
        product_external_id=opt_text(item.get("product_id") or None),
        sku=text(item.get("sku")),
        name=html.unescape(text(item.get("name"))),
        quantity=int(item.get("quantity", 1)),
        unit_price_minor=minor(item.get("price"), currency),
        total_minor=minor(item.get("total"), currency),
    )


def _order(out: EventBuilder, o: dict[str, Any]) -> None:
    currency = text(o.get("currency")).upper() or "USD"
    billing = o.get("billing") or {}
    billing_address = address(billing, ADDRESS_FIELDS)
    items = o.get("line_items") or []
    customer_id = opt_text(o.get("customer_id") or None)  # 0 is a guest checkout
    occurred_at = opt_time(o.get(MODIFIED_FIELD))
    order = Order(
        number=text(o.get("number") or o["id"]),
        status=text(o.get("status")),
        currency=currency,
        subtotal_minor=sum(minor(i.get("subtotal"), currency) for i in items),
        tax_minor=minor(o.get("total_tax"), currency),
        shipping_minor=minor(o.get("shipping_total"), currency),
        discount_minor=minor(o.get("discount_total"), currency),
        total_minor=minor(o.get("total"), currency),
        customer_external_id=customer_id,
        customer_email=opt_text(billing.get("email")),
        line_items=[_line(i, currency) for i in items],
        billing_address=billing_address,
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
    out.upsert("order", o["id"], occurred_at, order)
    # the buyer as a contact; a guest has no customer id, so the billing email is the key
    email = text(billing.get("email")).strip().lower()
    contact_id = customer_id or (f"guest:{email}" if email else None)
    if contact_id:
        contact = _contact(
            billing, {}, [billing_address] if billing_address else [], guest=True if customer_id is None else None
        )
        out.upsert("contact", contact_id, occurred_at, contact)


def _product(out: EventBuilder, p: dict[str, Any]) -> None:
    currency = text(out.ctx.config.get("currency")).upper() or "USD"  # product payloads carry no currency
    stock = p.get("stock_quantity")
    product = Product(
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
    out.upsert("product", p["id"], opt_time(p.get(MODIFIED_FIELD)), product)


MAPPERS = {"order": _order, "contact": _customer, "product": _product}


class WooCommerceProvider:
    provider = "woocommerce"
    content_types = frozenset({"application/json", FORM})  # FORM: the creation ping
    content_encodings: frozenset[str] = frozenset()
    delivery_id_unique = False  # wp_hash(webhook id . current second): see the module docstring
    webhook_registration = BY_HAND
    kept_headers = frozenset(
        {TOPIC_HEADER, RESOURCE_HEADER, EVENT_HEADER, "x-wc-webhook-source", "x-wc-webhook-id", *DELIVERY_ID_HEADERS}
    )
    topics = frozenset(TOPICS)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], now_s: float) -> None:
        verify_body_b64(request.headers, request.body, secrets, SIGNATURE_HEADER, "X-WC-Webhook-Signature")

    def delivery_id(self, request: WebhookRequest) -> str | None:
        return next(filter(None, (header(request.headers, name) for name in DELIVERY_ID_HEADERS)), None)

    def topic(self, request: WebhookRequest) -> str:
        topic = header(request.headers, TOPIC_HEADER)
        if topic:
            return topic
        resource, event = header(request.headers, RESOURCE_HEADER), header(request.headers, EVENT_HEADER)
        return f"{resource}.{event}" if resource and event else ""

    def handshake(self, request: WebhookRequest) -> Handshake | None:
        if request.content_type not in (FORM, "") or len(request.body) > 100:
            return None
        fields = form_fields(request.body)
        if list(fields) == ["webhook_id"] and fields["webhook_id"].isdigit():
            return Handshake(requires_signature=False)
        return None

    def normalize(self, ctx: IngestContext, topic: str, request: WebhookRequest) -> Sequence[Event]:
        return normalize_resource(ctx, self.provider, topic, request.body, TOPICS, MAPPERS, MODIFIED_FIELD)


PROVIDER = WooCommerceProvider()

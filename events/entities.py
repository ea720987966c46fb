"""Provider-neutral entities: what every connector normalizes into.

Money is integer minor units with an ISO 4217 currency; times are UTC. Every field has a default so that new
fields can be added without breaking old events; what does not map goes to `provider_data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct, field

UtcTime = Annotated[datetime, Meta(tz=True)]  # a time without an offset is refused at decode, never guessed


class Entity(Struct, frozen=True, kw_only=True, omit_defaults=True):
    provider_data: dict[str, Any] = field(default_factory=dict)


class Address(Struct, frozen=True, kw_only=True, omit_defaults=True):
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2


class Contact(Entity, frozen=True, kw_only=True):
    email: str | None = None
    phone: str | None = None
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    tags: list[str] = []
    addresses: list[Address] = []
    accepts_marketing: bool = False


class Company(Entity, frozen=True, kw_only=True):
    name: str = ""
    domain: str | None = None
    industry: str | None = None
    phone: str | None = None
    address: Address | None = None


class OrderLine(Struct, frozen=True, kw_only=True, omit_defaults=True):
    external_id: str = ""
    product_external_id: str | None = None
    sku: str = ""
    name: str = ""
    quantity: int = 1
    unit_price_minor: int = 0
    total_minor: int = 0


class Order(Entity, frozen=True, kw_only=True):
    number: str = ""
    status: str = ""
    currency: str = "USD"
    subtotal_minor: int = 0
    tax_minor: int = 0
    shipping_minor: int = 0
    discount_minor: int = 0
    total_minor: int = 0
    customer_external_id: str | None = None
    customer_email: str | None = None
    line_items: list[OrderLine] = []
    billing_address: Address | None = None
    shipping_address: Address | None = None
    placed_at: UtcTime | None = None


class Product(Entity, frozen=True, kw_only=True):
    name: str = ""
    sku: str = ""
    status: str = ""
    currency: str = "USD"
    price_minor: int = 0
    description: str = ""
    inventory_quantity: int | None = None
    categories: list[str] = []
    url: str | None = None


class Post(Entity, frozen=True, kw_only=True):
    """A post or a page (the event's subject kind says which)."""

    title: str = ""
    slug: str = ""
    status: str = ""
    content: str = ""
    excerpt: str = ""
    author: str = ""
    url: str | None = None
    published_at: UtcTime | None = None


class Comment(Entity, frozen=True, kw_only=True):
    post_external_id: str | None = None
    author_name: str = ""
    author_email: str | None = None
    content: str = ""
    status: str = ""


class Message(Entity, frozen=True, kw_only=True):
    channel: str = ""  # slack, whatsapp, telegram, email ...
    conversation_external_id: str | None = None
    thread_external_id: str | None = None
    sender: str = ""
    text: str = ""
    sent_at: UtcTime | None = None


class Invoice(Entity, frozen=True, kw_only=True):
    number: str = ""
    status: str = ""
    currency: str = "USD"
    total_minor: int = 0
    amount_due_minor: int = 0
    amount_paid_minor: int = 0
    customer_external_id: str | None = None
    subscription_external_id: str | None = None
    due_at: UtcTime | None = None


class Subscription(Entity, frozen=True, kw_only=True):
    status: str = ""
    customer_external_id: str | None = None
    plan: str = ""
    currency: str = "USD"
    amount_minor: int = 0
    interval: str = ""  # day, week, month, year
    current_period_end: UtcTime | None = None
    cancel_at_period_end: bool = False


class Payment(Entity, frozen=True, kw_only=True):
    status: str = ""
    currency: str = "USD"
    amount_minor: int = 0
    customer_external_id: str | None = None
    order_external_id: str | None = None
    method: str = ""


class Lead(Entity, frozen=True, kw_only=True):
    name: str = ""
    email: str | None = None
    phone: str | None = None
    company: str = ""
    status: str = ""
    origin: str = ""  # form, ad, import ...
    score: int | None = None


class Deal(Entity, frozen=True, kw_only=True):
    """A sales opportunity in a CRM's pipeline (not yet an order: no lines, an expected amount)."""

    name: str = ""
    stage: str = ""
    pipeline: str = ""
    currency: str = "USD"
    amount_minor: int = 0
    probability: int | None = None  # percent, as the CRM estimates it
    expected_close: str | None = None  # a date (YYYY-MM-DD): no time of day
    company: str = ""
    contact_external_id: str | None = None
    owner: str | None = None


class Segment(Entity, frozen=True, kw_only=True):
    """A named group of contacts (a tag or a list: the event's subject kind says which)."""

    name: str = ""
    slug: str = ""
    description: str = ""


class Campaign(Entity, frozen=True, kw_only=True):
    """A marketing message sent (or to be sent) to many contacts at once."""

    name: str = ""
    status: str = ""  # the provider's: draft, scheduled, working, archived ...
    channel: str = ""  # email, sms ...
    subject: str = ""
    recipients: int | None = None


class Task(Entity, frozen=True, kw_only=True):
    title: str = ""
    description: str = ""
    status: str = ""
    priority: str = ""
    assignee: str | None = None
    project: str | None = None
    due_at: UtcTime | None = None

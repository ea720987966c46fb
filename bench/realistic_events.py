"""Realistic event traffic for benchmarks: 50 tenants, each with a few connectors, publishing the real event types.

The mix follows what a business-automation tenant's providers send: commerce (orders with line items, products,
customers), billing (invoices, payments, subscriptions), CMS (posts, pages, comments), CRM (companies, leads) and
messaging. About a quarter of the events update an entity seen before (a later provider time, a new status), about
1% delete one (a tombstone). Money is integer minor units in the order's currency (JPY has no minor unit). Tenant
sizes are skewed (a few large shops, many small ones), as they are in practice.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from events.entities import (
    Address,
    Comment,
    Company,
    Contact,
    Invoice,
    Lead,
    Message,
    Order,
    OrderLine,
    Payment,
    Post,
    Product,
    Subscription,
)
from events.ids import new_id
from events.money import exponent
from events.types import DELETED_BY_KIND, UPSERTED_BY_KIND, Event, Subject

FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Noor",
    "Olga",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
    "Zoë",
]
LAST = [
    "Álvarez",
    "Brown",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Novak",
    "Wójcik",
    "Yilmaz",
]
CITIES = [
    ("Berlin", "BE", "10115", "DE"),
    ("Lyon", "ARA", "69001", "FR"),
    ("Austin", "TX", "78701", "US"),
    ("Leeds", "ENG", "LS1 4AP", "GB"),
    ("Osaka", "27", "530-0001", "JP"),
    ("Madrid", "MD", "28001", "ES"),
    ("Toronto", "ON", "M5H 2N2", "CA"),
    ("Pune", "MH", "411001", "IN"),
]
PRODUCTS = [
    "Organic Cotton T-Shirt",
    "Ceramic Pour-Over Set",
    "Merino Beanie",
    "Bamboo Cutting Board",
    "Linen Apron",
    "Cold Brew Bottle",
    "Leather Card Holder",
    "Recycled Notebook A5",
    "Enamel Mug 350 ml",
    "Cast Iron Skillet 26 cm",
    "Wool Throw Blanket",
    "Soy Candle — Fig",
    "Hemp Tote Bag",
    "Steel Water Bottle",
]
WORDS = [
    "shipping",
    "delay",
    "refund",
    "invoice",
    "campaign",
    "launch",
    "quarterly",
    "update",
    "onboarding",
    "customer",
    "feedback",
    "inventory",
    "restock",
    "discount",
    "newsletter",
    "release",
    "pricing",
    "support",
    "wholesale",
    "partnership",
    "analytics",
    "webinar",
]
ORDER_STATUSES = ["pending", "processing", "on-hold", "completed", "refunded"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "EUR", "USD"]

# kind -> (weight in the mix, provider families that produce it)
MIX: dict[str, tuple[int, tuple[str, ...]]] = {
    "order": (34, ("woocommerce", "shopify")),
    "contact": (18, ("woocommerce", "shopify", "stripe", "hubspot")),
    "product": (11, ("woocommerce", "shopify")),
    "payment": (8, ("stripe",)),
    "invoice": (5, ("stripe",)),
    "subscription": (3, ("stripe",)),
    "post": (4, ("wordpress",)),
    "page": (1, ("wordpress",)),
    "comment": (4, ("wordpress",)),
    "message": (8, ("slack",)),
    "company": (2, ("hubspot",)),
    "lead": (2, ("hubspot",)),
}
PROVIDERS = ("woocommerce", "shopify", "stripe", "wordpress", "hubspot", "slack")


@dataclass
class Tenant:
    id: str
    currency: str
    sources: dict[str, str]  # provider -> connector instance id
    known: dict[str, list[str]] = field(default_factory=dict)  # kind -> external ids seen
    version: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, external id) -> updates so far


class Traffic:
    """A deterministic stream of realistic events (seeded); `entities` counts distinct (tenant, kind, source, id)."""

    def __init__(self, tenants: int = 50, seed: int = 7, start: datetime | None = None) -> None:
        self.rnd = random.Random(seed)
        self.clock = start or datetime.now(UTC) - timedelta(days=1)
        self.tenants = [self._tenant(i) for i in range(tenants)]
        self.weights = [1.0 / (i + 1) ** 0.8 for i in range(tenants)]  # a few large shops, many small ones
        self.kinds = list(MIX)
        self.kind_weights = [MIX[k][0] for k in self.kinds]
        self.entities: set[tuple[str, str, str, str]] = set()

    def _tenant(self, i: int) -> Tenant:
        providers = self.rnd.sample(PROVIDERS, k=self.rnd.randint(3, len(PROVIDERS)))
        if not {"woocommerce", "shopify"} & set(providers):
            providers.append(self.rnd.choice(["woocommerce", "shopify"]))
        sources = {p: f"con_{self.rnd.getrandbits(64):016x}" for p in providers}
        return Tenant(
            id=f"tn_{i:02d}_{self.rnd.getrandbits(48):012x}", currency=self.rnd.choice(CURRENCIES), sources=sources
        )

    def events(self, n: int) -> list[Event]:
        return [self.next_event() for _ in range(n)]

    def stream(self) -> Iterator[Event]:
        while True:
            yield self.next_event()

    def next_event(self) -> Event:
        rnd = self.rnd
        tenant = rnd.choices(self.tenants, self.weights)[0]
        kind = rnd.choices(self.kinds, self.kind_weights)[0]
        providers = [p for p in MIX[kind][1] if p in tenant.sources] or [next(iter(tenant.sources))]
        provider = rnd.choice(providers)
        source = tenant.sources[provider]
        known = tenant.known.setdefault(kind, [])
        if known and rnd.random() < 0.33:
            external_id = rnd.choice(known)
        else:
            external_id = str(rnd.randrange(10_000, 99_999_999)) if provider != "stripe" else _stripe_id(rnd, kind)
            known.append(external_id)
        version = tenant.version.get((kind, external_id), 0) + 1
        tenant.version[(kind, external_id)] = version
        self.clock += timedelta(milliseconds=rnd.randint(1, 40))
        occurred = self.clock if rnd.random() > 0.02 else self.clock - timedelta(minutes=5)  # some arrive late
        self.entities.add((tenant.id, kind, source, external_id))
        common = dict(
            id=new_id(),
            tenant_id=tenant.id,
            source=source,
            provider=provider,
            subject=Subject(kind=kind, external_id=external_id),
            occurred_at=occurred,
            recorded_at=datetime.now(UTC),
            raw_ref=f"dlv_{rnd.getrandbits(64):016x}",
        )
        if version > 1 and rnd.random() < 0.03:
            return DELETED_BY_KIND[kind](**common)
        return UPSERTED_BY_KIND[kind](**common, data=BUILDERS[kind](self, tenant, external_id, version, provider))

    # --- entities ---------------------------------------------------------------------------------------------

    def person(self) -> tuple[str, str, str]:
        first, last = self.rnd.choice(FIRST), self.rnd.choice(LAST)
        email = f"{first}.{last}{self.rnd.randrange(100)}@example.com".lower().replace("'", "")
        return first, last, email

    def address(self) -> Address:
        city, region, postal, country = self.rnd.choice(CITIES)
        return Address(
            line1=f"{self.rnd.randrange(1, 240)} {self.rnd.choice(LAST)} Street",
            city=city,
            region=region,
            postal_code=postal,
            country=country,
        )

    def order(self, t: Tenant, xid: str, version: int, provider: str) -> Order:
        rnd, scale = self.rnd, 10 ** exponent(t.currency)
        lines = []
        for n in range(rnd.choice([1, 1, 2, 2, 3, 4, 6])):
            qty, unit = rnd.randint(1, 4), rnd.randrange(4, 180) * scale + (rnd.choice([0, 50, 99]) if scale > 1 else 0)
            product = rnd.choice(PRODUCTS)
            lines.append(
                OrderLine(
                    external_id=f"{xid}-{n + 1}",
                    product_external_id=str(rnd.randrange(100, 9999)),
                    sku=f"SKU-{zlib.crc32(product.encode()) % 100000:05d}",
                    name=product,
                    quantity=qty,
                    unit_price_minor=unit,
                    total_minor=qty * unit,
                )
            )
        subtotal = sum(line.total_minor for line in lines)
        tax, shipping = subtotal * 19 // 100, rnd.choice([0, 4, 7]) * scale
        _first, _last, email = self.person()
        home = self.address()
        return Order(
            number=f"#{xid[-6:]}",
            status=ORDER_STATUSES[min(version - 1, len(ORDER_STATUSES) - 1)],
            currency=t.currency,
            subtotal_minor=subtotal,
            tax_minor=tax,
            shipping_minor=shipping,
            total_minor=subtotal + tax + shipping,
            customer_external_id=str(rnd.randrange(1000, 999999)),
            customer_email=email,
            line_items=lines,
            billing_address=home,
            shipping_address=home,
            placed_at=self.clock - timedelta(minutes=version),
            provider_data={
                provider: {
                    "payment_method": rnd.choice(["stripe", "paypal", "bacs", "cod"]),
                    "created_via": "checkout",
                    "customer_note": "" if rnd.random() < 0.8 else "Please leave at the door",
                }
            },
        )

    def contact(self, t: Tenant, xid: str, version: int, provider: str) -> Contact:
        first, last, email = self.person()
        return Contact(
            email=email,
            phone=f"+49 30 {self.rnd.randrange(1000000, 9999999)}",
            first_name=first,
            last_name=last,
            tags=self.rnd.sample(["vip", "wholesale", "newsletter", "returning"], k=2),
            addresses=[self.address()],
            accepts_marketing=self.rnd.random() < 0.4,
            provider_data={provider: {"orders_count": version, "state": "enabled"}},
        )

    def product(self, t: Tenant, xid: str, version: int, provider: str) -> Product:
        name = self.rnd.choice(PRODUCTS)
        return Product(
            name=name,
            sku=f"SKU-{xid[-5:]}",
            status=self.rnd.choice(["publish", "draft", "active"]),
            currency=t.currency,
            price_minor=self.rnd.randrange(400, 18000) * (10 ** exponent(t.currency)) // 100,
            description=f"{name}. " + " ".join(self.rnd.choices(WORDS, k=20)),
            inventory_quantity=self.rnd.randrange(0, 500),
            categories=["Home", "Gifts"],
            url=f"https://shop.example.com/p/{xid}",
        )

    def post(self, t: Tenant, xid: str, version: int, provider: str) -> Post:
        title = " ".join(self.rnd.choices(WORDS, k=5)).capitalize()
        return Post(
            title=title,
            slug=title.lower().replace(" ", "-"),
            status="publish",
            content=" ".join(self.rnd.choices(WORDS, k=120)),
            excerpt=" ".join(self.rnd.choices(WORDS, k=20)),
            author=self.rnd.choice(FIRST),
            url=f"https://blog.example.com/{xid}",
            published_at=self.clock,
        )

    def comment(self, t: Tenant, xid: str, version: int, provider: str) -> Comment:
        first, last, email = self.person()
        return Comment(
            post_external_id=str(self.rnd.randrange(100, 9999)),
            author_name=f"{first} {last}",
            author_email=email,
            content=" ".join(self.rnd.choices(WORDS, k=25)),
            status="approved",
        )

    def message(self, t: Tenant, xid: str, version: int, provider: str) -> Message:
        return Message(
            channel="slack",
            conversation_external_id=f"C{self.rnd.getrandbits(40):010X}",
            sender=f"U{self.rnd.getrandbits(40):010X}",
            text=" ".join(self.rnd.choices(WORDS, k=15)),
            sent_at=self.clock,
        )

    def invoice(self, t: Tenant, xid: str, version: int, provider: str) -> Invoice:
        total = self.rnd.randrange(9, 900) * 10 ** exponent(t.currency)
        paid = total if version > 1 else 0
        return Invoice(
            number=f"INV-{xid[-8:].upper()}",
            status="paid" if paid else "open",
            currency=t.currency,
            total_minor=total,
            amount_due_minor=total - paid,
            amount_paid_minor=paid,
            customer_external_id=_stripe_id(self.rnd, "contact"),
            due_at=self.clock + timedelta(days=30),
        )

    def payment(self, t: Tenant, xid: str, version: int, provider: str) -> Payment:
        return Payment(
            status=self.rnd.choice(["succeeded", "succeeded", "processing", "failed"]),
            currency=t.currency,
            amount_minor=self.rnd.randrange(5, 500) * 10 ** exponent(t.currency),
            customer_external_id=_stripe_id(self.rnd, "contact"),
            method="card",
            provider_data={"stripe": {"card_brand": self.rnd.choice(["visa", "mastercard", "amex"])}},
        )

    def subscription(self, t: Tenant, xid: str, version: int, provider: str) -> Subscription:
        return Subscription(
            status=self.rnd.choice(["active", "trialing", "past_due"]),
            customer_external_id=_stripe_id(self.rnd, "contact"),
            plan=self.rnd.choice(["basic", "pro"]),
            currency=t.currency,
            amount_minor=self.rnd.choice([900, 2900, 9900]),
            interval="month",
            current_period_end=self.clock + timedelta(days=30),
        )

    def company(self, t: Tenant, xid: str, version: int, provider: str) -> Company:
        name = f"{self.rnd.choice(LAST)} {self.rnd.choice(['GmbH', 'Ltd', 'SAS', 'Inc'])}"
        return Company(
            name=name, domain=f"{name.split()[0].lower()}.example.com", industry="Retail", address=self.address()
        )

    def lead(self, t: Tenant, xid: str, version: int, provider: str) -> Lead:
        first, last, email = self.person()
        return Lead(
            name=f"{first} {last}",
            email=email,
            company=self.rnd.choice(LAST),
            status="new",
            origin=self.rnd.choice(["form", "ad", "import"]),
            score=self.rnd.randrange(0, 100),
        )


def _stripe_id(rnd: random.Random, kind: str) -> str:
    prefix = {"payment": "pi", "invoice": "in", "subscription": "sub", "contact": "cus"}.get(kind, "obj")
    return f"{prefix}_{rnd.getrandbits(96):024x}"


BUILDERS: dict[str, Callable] = {
    "order": Traffic.order,
    "contact": Traffic.contact,
    "product": Traffic.product,
    "post": Traffic.post,
    "page": Traffic.post,
    "comment": Traffic.comment,
    "message": Traffic.message,
    "invoice": Traffic.invoice,
    "payment": Traffic.payment,
    "subscription": Traffic.subscription,
    "company": Traffic.company,
    "lead": Traffic.lead,
}

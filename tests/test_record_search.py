"""Search finds records by their typed columns (migration 0031, rag/fields.py) through GET /v1/search: a contact by
part of his name or email, an order by its number or product, a product by SKU; merged with the text hits; tenant
B's near-identical records never reach tenant A; the trigram index answers (not a scan of the tenant's records)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from factories import wait_for
from gateway_helpers import Gateway
from test_rag_gateway import search

from consumers.projector import record_row, upsert_records
from db.pool import tenant_transaction
from events.entities import OrderLine
from events.ids import new_id
from events.types import (
    Company,
    CompanyUpserted,
    Contact,
    ContactUpserted,
    Order,
    OrderUpserted,
    Product,
    ProductUpserted,
    Subject,
)
from rag.fields import bolded, search_fields
from rag.search import Filters


def event(cls, tenant: str, kind: str, external_id: str, data):
    now = datetime.now(UTC)
    subject = Subject(kind=kind, external_id=external_id)
    return cls(
        id=new_id(),
        tenant_id=tenant,
        source="con_shop",
        provider="woocommerce",
        subject=subject,
        occurred_at=now,
        recorded_at=now,
        data=data,
    )


def shop(tenant: str, surname: str = "Doe") -> list:
    """A contact, a company, a product and an order of one tenant (another tenant gets near-identical ones)."""
    return [
        event(
            ContactUpserted,
            tenant,
            "contact",
            "c1",
            Contact(first_name="John", last_name=surname, email=f"john.{surname.lower()}@example.com"),
        ),
        event(
            ContactUpserted,
            tenant,
            "contact",
            "c2",
            Contact(first_name="Mary", last_name="Major", email="mary@example.org"),
        ),
        event(CompanyUpserted, tenant, "company", "co1", Company(name="Harbour Leatherworks", domain="harbour.test")),
        event(ProductUpserted, tenant, "product", "p1", Product(name="Walnut wallet", sku="WAL-7731")),
        event(
            OrderUpserted,
            tenant,
            "order",
            "o1",
            Order(
                number="100421",
                customer_email="mary@example.org",
                line_items=[OrderLine(sku="WAL-7731", name="Walnut wallet", quantity=1)],
            ),
        ),
    ]


async def project(pool, events: list) -> None:
    """The projector's own rows, written as it writes them."""
    async with tenant_transaction(pool, events[0].tenant_id) as conn:
        await upsert_records(conn, [record_row(e, (1, n)) for n, e in enumerate(events)])


def found(hits: list[dict]) -> list[tuple[str, str]]:
    return [(h["kind"], h["external_id"]) for h in hits if h["matched"] == "fields"]


async def test_records_are_found_by_their_typed_fields(gw: Gateway, pool, rag_db):
    tenant_a, key_a = await gw.create_tenant("Acme")
    tenant_b, key_b = await gw.create_tenant("Bravo")
    await project(pool, shop(tenant_a))
    await project(pool, shop(tenant_b, surname="Doe"))  # near-identical: John Doe, the same SKU and order number

    async def search_state():
        return (await (await gw.get("/readyz")).json())["search"]

    await wait_for(search_state, "ready", timeout_s=180)  # the local model loads at start (once per process)
    john = await search(gw, key_a, "john")  # hybrid, the default mode
    assert found(john) == [("contact", "c1")]
    assert john[0]["snippet"] == "**John** Doe · **john**.doe@example.com" and john[0]["chunk"] == 0
    assert john[0]["title"] == "john.doe@example.com" and 0 < john[0]["score"] <= 1
    record = await gw.get(f"/v1/records/contact/{john[0]['record_id']}", headers=gw.bearer(key_a))
    assert (await record.json())["external_id"] == "c1"

    assert found(await search(gw, key_a, "doe@exam", mode="keyword")) == [("contact", "c1")]
    assert found(await search(gw, key_a, "100421", mode="keyword")) == [("order", "o1")]
    assert found(await search(gw, key_a, "wal-7731", mode="keyword")) == [("product", "p1"), ("order", "o1")]
    assert found(await search(gw, key_a, "harbour", mode="keyword")) == [("company", "co1")]
    assert found(await search(gw, key_a, "mary major", mode="keyword")) == [("contact", "c2")]
    assert found(await search(gw, key_a, "walnut major", mode="keyword")) == []  # every term, in one record
    assert found(await search(gw, key_a, "john", kind="order", mode="keyword")) == []
    assert found(await search(gw, key_a, "john", kind="contact", mode="keyword")) == [("contact", "c1")]
    assert found(await search(gw, key_a, "john", mode="vector")) == []  # meaning only: no field matches

    for key, tenant in ((key_a, tenant_a), (key_b, tenant_b)):
        hits = await search(gw, key, "john doe", mode="keyword")
        records = {h["record_id"] for h in hits}
        async with tenant_transaction(pool, tenant) as conn:
            own = {r["id"] for r in await conn.fetch("SELECT id FROM records")}
        assert records and records <= own


async def test_the_trigram_index_answers_at_ten_thousand_records(gw: Gateway, pool, admin, rag_db):
    tenant, _ = await gw.create_tenant("Big")
    other, _ = await gw.create_tenant("Other")
    await admin.execute(
        """INSERT INTO records (tenant_id, kind, source, external_id, id, title, updated_at, recorded_at, data,
                                event_id, stream_ms, stream_seq)
           SELECT CASE WHEN n % 5 = 0 THEN $2 ELSE $1 END, 'contact', 'con', n::text, 'rec_big_' || n, NULL, now(),
                  now(), jsonb_build_object('first_name', 'Person' || n, 'email', 'p' || n || '@example.com'),
                  'evt', 1, n
           FROM generate_series(1, 10000) AS n""",
        tenant,
        other,
    )
    await admin.execute("VACUUM ANALYZE records")
    async with tenant_transaction(pool, tenant) as conn:
        hits = await search_fields(conn, "p4242@example", 10, Filters())
        scans = await conn.fetchval("SELECT pg_stat_get_xact_numscans('records_search_trgm'::regclass)")
        seq = await conn.fetchval("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'records'")
    assert [h.external_id for h in hits] == ["4242"]
    assert scans >= 1 and seq == 0
    async with tenant_transaction(pool, tenant) as conn:  # p4245 is the other tenant's
        assert await search_fields(conn, "p4245@example", 10, Filters()) == []
        broad = await search_fields(conn, "example.com", 10, Filters())  # in every email: the first 500 are ranked
    assert len(broad) == 10 and all(int(h.external_id) % 5 for h in broad)


async def test_the_search_text_is_computed_inline_with_the_same_text_for_every_kind(admin):
    """Migration 0048: a SQL function that Postgres cannot inline costs every written record a call (11-15 µs of
    the backend's CPU against 1.5-2); a SET clause or a subquery in it, added back, would make this plan name the
    function again."""
    plan = "\n".join(
        r[0] for r in await admin.fetch("EXPLAIN (VERBOSE) SELECT record_search_text(kind, data) FROM records")
    )
    assert "record_search_text" not in plan and "CASE" in plan, plan
    line_items = [{"sku": "SKU-1", "name": "Mug"}, {"name": "Tea"}, {"sku": "SKU-3"}]
    texts = {
        "contact": ({"first_name": "Ann", "email": "ann@example.com", "phone": "+44"}, "Ann  ann@example.com  +44"),
        "lead": ({"name": "Bo", "company": "Acme"}, "Bo  Acme "),
        "company": ({"name": "Acme", "domain": "acme.test"}, "Acme acme.test"),
        "product": ({"sku": "SKU-1", "name": "Mug"}, "SKU-1 Mug"),
        "order": ({"number": "1001", "line_items": line_items}, "1001  SKU-1 Mug  Tea SKU-3 "),
        "ticket": ({"subject": "Hi"}, None),
    }
    for kind, (data, text) in texts.items():
        assert await admin.fetchval("SELECT record_search_text($1, $2::jsonb)", kind, json.dumps(data)) == text, kind
    assert (
        len(await admin.fetchval("SELECT record_search_text('product', $1::jsonb)", json.dumps({"name": "x" * 3000})))
        == 2000
    )


def test_terms_are_marked_in_any_case():
    assert bolded("John Doe · john.doe@x.com", ["JOHN"]) == "**John** Doe · **john**.doe@x.com"
    assert bolded("WAL-7731", ["wal-7731", "wal"]) == "**WAL-7731**"

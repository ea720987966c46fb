"""The fixed aggregates agents read (agents/aggregates.py over the security_invoker views of 0021): figures from
records projected by the real projector, and near-identical data in two tenants never mixing."""

from __future__ import annotations

from datetime import date

import msgspec
import pytest
from factories import order, running, wait_for

from agents.aggregates import AGGREGATES, UnknownAggregate, query_aggregate
from consumers.projector import projector_group
from events.entities import OrderLine
from producers.publisher import Publisher


def _order(tenant: str, number: str, total: int, lines: list[tuple[str, int, int]], status: str = "processing", **kw):
    items = [OrderLine(product_external_id=p, name=f"Item {p}", quantity=q, total_minor=t) for p, q, t in lines]
    event = order(tenant, number, total_minor=total, line_items=items, **kw)
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, status=status))


@pytest.fixture
async def projected(redis, pool, admin):
    events = []
    for tenant, scale in (("tenant-a", 1), ("tenant-b", 10)):  # the same shop twice, tenant B's amounts ten times
        ann, bob = {"customer_email": "ann@x.io"}, {"customer_email": "bob@x.io"}
        events += [
            _order(tenant, "1", 3000 * scale, [("p1", 2, 2000 * scale), ("p2", 1, 1000 * scale)], **ann),
            _order(tenant, "2", 1500 * scale, [("p1", 1, 1500 * scale)], customer_email="Ann@x.io"),
            _order(tenant, "3", 9900 * scale, [("p3", 1, 9900 * scale)], status="cancelled", **bob),
        ]
    async with running(redis, [projector_group(pool, 8)]):
        await Publisher(redis).publish(events)
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM records"), len(events))


async def test_sales_products_and_customers_of_one_tenant(projected, pool):
    day = await query_aggregate(pool, "tenant-a", "sales_by_day")
    assert day == [{"day": "2026-01-01", "currency": "EUR", "orders": 2, "revenue_minor": 4500}]  # cancelled left out
    products = await query_aggregate(pool, "tenant-a", "product_sales")
    assert [(p["product_external_id"], p["units"], p["revenue_minor"]) for p in products] == [
        ("p1", 3, 3500),
        ("p2", 1, 1000),
    ]
    customers = await query_aggregate(pool, "tenant-a", "customer_orders")
    assert [(c["customer"], c["orders"], c["spent_minor"]) for c in customers] == [("ann@x.io", 2, 4500)]
    counts = await query_aggregate(pool, "tenant-a", "record_counts")
    assert counts == [{"kind": "order", "provider": "woocommerce", "live": 3, "deleted": 0}]


async def test_the_other_tenant_sees_only_its_own_figures(projected, pool):
    assert (await query_aggregate(pool, "tenant-b", "sales_by_day"))[0]["revenue_minor"] == 45000
    for name in AGGREGATES:
        rows = await query_aggregate(pool, "tenant-c", name)
        assert rows == [], name  # a tenant with no data sees nothing, not the others' rows


async def test_without_a_tenant_the_views_show_nothing(projected, pool):
    async with pool.acquire() as conn:  # the service role, no tenant set: row-level security hides every row
        for agg in AGGREGATES.values():
            assert await conn.fetchval(f"SELECT count(*) FROM {agg.view}") == 0, agg.view


async def test_ranges_currency_and_limits_are_bind_parameters(projected, pool):
    assert await query_aggregate(pool, "tenant-a", "sales_by_day", since=date(2026, 1, 2)) == []
    assert len(await query_aggregate(pool, "tenant-a", "sales_by_day", until=date(2026, 1, 1))) == 1
    assert await query_aggregate(pool, "tenant-a", "sales_by_day", currency="usd") == []
    assert len(await query_aggregate(pool, "tenant-a", "product_sales", limit=1)) == 1
    with pytest.raises(UnknownAggregate, match="known: sales_by_day"):
        await query_aggregate(pool, "tenant-a", "records; DROP TABLE records")

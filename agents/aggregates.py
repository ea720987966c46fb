"""Fixed read-only aggregates (the views of db/migrations/0021_aggregates.sql) that agents may query by name.

A model never writes SQL: it names an aggregate and, where the aggregate allows, a date range, a currency and a
limit; this module builds the statement from fixed text with those as bind parameters. The views are
`security_invoker`, so the tenant set on the transaction is the only tenant whose rows they can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from db.pool import tenant_transaction

MAX_ROWS = 200  # an answer an agent can read in one go; more is a question for a narrower aggregate


@dataclass(frozen=True)
class Aggregate:
    view: str
    description: str  # what the tool tells the model the aggregate answers
    order_by: str  # fixed: the most useful rows first
    day_column: str | None = None  # the column a since/until range applies to


AGGREGATES: dict[str, Aggregate] = {
    "sales_by_day": Aggregate(
        "agg_sales_by_day",
        "orders and revenue (minor units) per day and currency, cancelled/refunded/failed orders left out",
        "day DESC, currency",
        day_column="day",
    ),
    "product_sales": Aggregate(
        "agg_product_sales",
        "units, orders and revenue (minor units) per product over all order lines, best sellers first",
        "revenue_minor DESC, product_external_id",
    ),
    "customer_orders": Aggregate(
        "agg_customer_orders",
        "orders, total spent (minor units), first and last order per customer, best customers first",
        "spent_minor DESC, customer",
        day_column="last_order_at",
    ),
    "record_counts": Aggregate(
        "agg_record_counts", "how many live and deleted records of each kind each provider holds", "kind, provider"
    ),
    "recurring_revenue": Aggregate(
        "agg_recurring_revenue",
        "active subscriptions and their monthly recurring revenue (minor units) per currency",
        "monthly_minor DESC",
    ),
}


class UnknownAggregate(ValueError):
    """The name is not one of AGGREGATES (the message lists the known ones)."""


def _statement(agg: Aggregate, since: date | None, until: date | None, currency: str | None, limit: int) -> tuple:
    where, args = [], []
    for value, clause in ((since, "{} >= ${}"), (until, "{} <= ${}")):
        if value is not None and agg.day_column:
            args.append(value)
            where.append(clause.format(agg.day_column, len(args)))
    if currency and agg.view != "agg_record_counts":
        args.append(currency.upper())
        where.append(f"currency = ${len(args)}")
    args.append(max(1, min(limit, MAX_ROWS)))
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    # tenant_id is left out of the answer: the caller's tenant is the only one the view shows
    sql = f"SELECT * FROM {agg.view} {condition} ORDER BY {agg.order_by} LIMIT ${len(args)}"
    return sql, args


async def query_aggregate(
    pool: asyncpg.Pool,
    tenant_id: str,
    name: str,
    *,
    since: date | None = None,
    until: date | None = None,
    currency: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Rows of one aggregate for one tenant, as plain dicts (dates as ISO strings, numbers as ints)."""
    agg = AGGREGATES.get(name)
    if agg is None:
        raise UnknownAggregate(f"unknown aggregate {name!r}; known: {', '.join(AGGREGATES)}")
    sql, args = _statement(agg, since, until, currency, limit)
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch(sql, *args)
    return [{k: _plain(v) for k, v in row.items() if k != "tenant_id"} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):  # Decimal from sum()
        return int(value)
    return value

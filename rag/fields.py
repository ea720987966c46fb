"""Keyword search over records' typed columns: contacts, companies and leads by name or email, orders by number,
customer or product, products by SKU or name. These kinds are records, not indexed text: a trigram index over one
text per record (`record_search_text`, migration 0031) finds them by any part of a word, and the hit's snippet shows
the fields it was found by, the query's terms in **bold** as the text search's snippets have them. Every term must be
there (no near match for a typo: a trigram similarity condition made the planner read the tenant's whole table).

Run inside a tenant transaction: `record_field_candidates` applies the policies' tenant condition itself (row-level
security would keep ILIKE out of the index: docs/decisions.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from rag.search import Filters

# kind -> the fields shown in a hit's snippet: the same ones record_search_text (0031) finds it by
FIELDS_SHOWN = {
    "contact": ("first_name", "last_name", "email", "company", "phone"),
    "lead": ("name", "email", "company", "phone"),
    "company": ("name", "domain"),
    "product": ("sku", "name"),
    "order": ("number", "customer_email"),
}
FIELD_KINDS = frozenset(FIELDS_SHOWN)
MIN_TERM_CHARS = 3  # a trigram index finds nothing shorter: a query without such a term is not run here


@dataclass(frozen=True)
class FieldHit:
    id: str  # the record's id (GET /v1/records/{kind}/{id})
    kind: str
    source: str
    external_id: str
    title: str
    url: str | None
    text: str  # the fields it is found by, one line
    snippet: str  # the same, query terms in **bold**
    score: float  # trigram word similarity of the query to those fields, 0..1 (1: a whole word of them)
    updated_at: datetime


def terms_of(query: str) -> list[str]:
    return [t for t in query.split() if t][:20]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def shown_text(kind: str, data: dict[str, Any]) -> str:
    """One line of the fields a record is found by (an order adds its lines' product names and SKUs)."""
    values = [str(data.get(name) or "").strip() for name in FIELDS_SHOWN.get(kind, ())]
    if kind == "contact" and values[0] and values[1]:
        values[:2] = [f"{values[0]} {values[1]}"]
    if kind == "order":
        lines = data.get("line_items") if isinstance(data.get("line_items"), list) else []
        values += [
            f"{line.get('name', '')} ({line['sku']})" if line.get("sku") else str(line.get("name", ""))
            for line in lines[:5]
            if isinstance(line, dict)
        ]
    return " · ".join(v for v in values if v)


def bolded(text: str, terms: list[str]) -> str:
    """The text with each occurrence of a term (any case) in **bold**."""
    if not terms:
        return text
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    return pattern.sub(lambda m: f"**{m.group(0)}**", text)


async def search_fields(conn: asyncpg.Connection, query: str, k: int, filters: Filters = Filters()) -> list[FieldHit]:
    """The transaction's tenant's top k records whose typed fields hold every term of the query, closest first.
    Nothing when the query has no term of MIN_TERM_CHARS or the kinds asked for hold none here."""
    terms = terms_of(query)
    kinds = [kind for kind in filters.kinds if kind in FIELD_KINDS]
    if (filters.kinds and not kinds) or not any(len(t) >= MIN_TERM_CHARS for t in terms):
        return []
    rows = await conn.fetch(
        "SELECT id, kind, source, external_id, title, data::text AS data, updated_at, score "
        "FROM record_field_candidates($1, $2, $3, $4, $5, $6, $7, $8)",
        _like(max(terms, key=len)),
        [_like(t) for t in terms],
        " ".join(terms),
        k,
        kinds or None,
        filters.source,
        filters.since,
        filters.until,
    )
    hits = []
    for row in rows:
        data = _decode(row["data"])
        text = shown_text(row["kind"], data)
        url = data.get("url") if isinstance(data.get("url"), str) else None
        hits.append(
            FieldHit(
                row["id"],
                row["kind"],
                row["source"],
                row["external_id"],
                row["title"] or text[:120],
                url,
                text,
                bolded(text, terms),
                float(row["score"]),
                row["updated_at"],
            )
        )
    return hits


def _decode(raw: str) -> dict[str, Any]:
    value = msgspec.json.decode(raw)
    return value if isinstance(value, dict) else {}

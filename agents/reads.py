"""What an agent may read, as plain functions under the tenant's row-level security: records and one record.

The specialists' CrewAI tools and the personal agent's tools both call these, so an agent of tenant B reads through
the same code path, and the same RLS, as every other tenant read. Answers are small dicts a model can read (the
entity data cut to MAX_DATA_CHARS) with the record id a citation names.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from db.pool import tenant_transaction

MAX_RECORDS = 20  # per call: a model reads a page, not a table
MAX_DATA_CHARS = 2000  # of one record's entity JSON in a list answer

_COLUMNS = "id, kind, provider, external_id, title, status, amount_minor, currency, updated_at, deleted, data::text"


def _like(text: str) -> str:
    """A substring pattern for ILIKE with the text's own wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _row(row: asyncpg.Record, cut: bool) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "kind", "provider", "external_id", "title", "status", "amount_minor", "currency")}
    out["updated_at"] = row["updated_at"].isoformat()
    data = row["data"]
    out["data"] = json.loads(data) if not cut or len(data) <= MAX_DATA_CHARS else data[:MAX_DATA_CHARS] + " …(cut)"
    return out


async def find_records(
    pool: asyncpg.Pool,
    tenant_id: str,
    kind: str,
    *,
    text: str | None = None,
    status: str | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The tenant's live records of one kind, newest first; `text` matches the title (number, name, email ...)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM records
                WHERE kind = $1 AND NOT deleted
                  AND ($2::text IS NULL OR title ILIKE $2) AND ($3::text IS NULL OR status = $3)
                ORDER BY updated_at DESC, id DESC LIMIT $4""",
            kind,
            _like(text) if text else None,
            status,
            max(1, min(limit, MAX_RECORDS)),
        )
    return [_row(r, cut=True) for r in rows]


async def get_record(
    pool: asyncpg.Pool, tenant_id: str, record_id: str | None = None, *, kind: str = "", external_id: str = ""
) -> dict[str, Any] | None:
    """One record by the platform's id, or by kind and the provider's id (the subject of an event); None if the
    tenant has none (another tenant's id finds nothing: RLS)."""
    async with tenant_transaction(pool, tenant_id) as conn:
        if record_id:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM records WHERE id = $1", record_id)
        else:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM records WHERE kind = $1 AND external_id = $2 ORDER BY updated_at DESC LIMIT 1",
                kind,
                external_id,
            )
    return _row(row, cut=False) if row else None

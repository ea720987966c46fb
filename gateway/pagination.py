"""Keyset pagination cursors: opaque to clients, the position after the last item of a page; and one page of a
tenant's list read with them (`fetch_page`)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from db.pool import tenant_transaction
from gateway.problems import ProblemError
from gateway.state import POOL, tenant_of

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

_Position = tuple[str, datetime, str]  # (what the cursor pages through, sort value, id)


def encode_cursor(scope: str, value: datetime, item_id: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode((scope, value, item_id))).decode().rstrip("=")


def decode_cursor(cursor: str | None, scope: str) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    _, value, item_id = _decode(cursor, scope, _Position)
    return value, item_id


def _decode(cursor: str, scope: str, kind: Any) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ProblemError("bad-request", "the cursor is not one this list gave out") from None
    if position[0] != scope:
        raise ProblemError("bad-request", "the cursor belongs to another list or sort order")
    return position


def page(rows: list[Any], limit: int, scope: str, sort_field: str = "created_at") -> tuple[list[Any], str | None]:
    """Rows fetched with LIMIT limit + 1: the page, and the cursor of the next one (None on the last page)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(scope, last[sort_field], last["id"])


async def fetch_page(
    request: web.Request, query: Any, scope: str, sql: str, *filters: Any, sort_field: str = "created_at"
) -> tuple[list[Any], str | None]:
    """One page of the caller's tenant's list, newest first: `sql` takes the filters as $1.., then the position after
    which the page starts (both null on the first page), then LIMIT (limit + 1). `query` is the route's query
    (`cursor`, `limit`); answers the page's rows and the next page's cursor (None on the last page)."""
    after = decode_cursor(query.cursor, scope)
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch(sql, *filters, *(after or (None, "")), query.limit + 1)
    return page(rows, query.limit, scope, sort_field)


def encode_key_cursor(scope: str, key: str) -> str:
    """For lists ordered by a unique text key alone (the agent catalog): the position is the last key."""
    return base64.urlsafe_b64encode(msgspec.json.encode((scope, key))).decode().rstrip("=")


def decode_key_cursor(cursor: str | None, scope: str) -> str | None:
    return _decode(cursor, scope, tuple[str, str])[1] if cursor else None

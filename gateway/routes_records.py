"""REST reads of the projections the projector group keeps in `records`, through row-level security.

A list page holds at most `list_max_bytes` of entity data (at least one record) and never a knowledge document's
content (`data.content` is left out of `document` lists in the SQL): one record's route answers it whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from db.pool import tenant_transaction
from events.types import UPSERTED_BY_KIND
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, ShortText, Timestamp, json_response, read_query
from gateway.state import CONFIG, POOL, tenant_of

routes = Routes("records")

KINDS = frozenset(UPSERTED_BY_KIND)
KIND_SCHEMA = {"type": "string", "enum": sorted(KINDS)}
HISTORY_LIMIT = 200  # events of one record shown: a busy order has tens


class Record(msgspec.Struct):
    id: str
    kind: str
    source: str  # the connector instance id
    provider: str
    external_id: str
    updated_at: Timestamp  # provider time of this state
    recorded_at: Timestamp
    deleted: bool
    data: msgspec.Raw  # the normalized entity (its schema depends on the kind)
    # the status of the connector it came from: active, needs_reauth ..., or disconnected (the connector was
    # disconnected and its records kept); null when the source is no connector (uploaded knowledge)
    source_status: str | None = None


class RecordEvent(msgspec.Struct):
    id: str
    type: str
    occurred_at: Timestamp
    recorded_at: Timestamp
    event: msgspec.Raw  # the event as it was published (an old version stays in its old shape)


class RecordHistory(msgspec.Struct):
    items: list[RecordEvent]  # newest first
    truncated: bool  # more events than HISTORY_LIMIT: the oldest are left out


class RecordList(msgspec.Struct):
    items: list[Record]
    next: str | None


class RecordQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    source: ShortText | None = None  # a connector instance id
    updated_since: Timestamp | None = None
    status: ShortText | None = None  # for kinds that have one (order, invoice, subscription, payment, task ...)
    q: Annotated[str, Meta(max_length=200)] | None = None  # text in the title (order number, name, email ...)
    sort: Literal["-updated_at", "updated_at"] = "-updated_at"
    include_deleted: bool = False


SOURCE_STATUS = "(SELECT c.status FROM connectors c WHERE c.id = records.source) AS source_status"
COLUMNS = f"id, kind, source, provider, external_id, updated_at, recorded_at, deleted, data, {SOURCE_STATUS}"
LIST_COLUMNS = (
    "id, kind, source, provider, external_id, updated_at, recorded_at, deleted, "
    f"(CASE WHEN kind = 'document' THEN data - 'content' ELSE data END)::text AS data, {SOURCE_STATUS}"
)


def _record(row) -> Record:
    return Record(**{**row, "data": msgspec.Raw(row["data"].encode())})


def known_kinds(kinds: Iterable[str], valid: Iterable[str] = KINDS, slug: str = "bad-request") -> tuple[str, ...]:
    """The kinds asked for, or a problem listing the valid ones: the one rule of every route that takes a kind."""
    kinds, valid = tuple(kinds), frozenset(valid)
    for kind in kinds:
        if kind not in valid:
            raise ProblemError(slug, f"no record kind {kind!r}; kinds: {', '.join(sorted(valid))}")
    return kinds


def _kind(request: web.Request) -> str:
    return known_kinds([request.match_info["kind"]], slug="not-found")[0]


def _fitting(rows, limit: int, max_bytes: int) -> int:
    """How many of the rows (at most limit, at least one) fit in max_bytes of data."""
    total = 0
    for n, row in enumerate(rows[:limit]):
        total += len(row["data"])
        if total > max_bytes and n:
            return n
    return limit


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@routes.route(
    "GET",
    "/v1/records/{kind}",
    permission="records:read",
    summary="List records of one kind",
    query=RecordQuery,
    response=RecordList,
    errors=(404,),
    path_schemas={"kind": KIND_SCHEMA},
)
async def list_records(request: web.Request) -> web.Response:
    kind = _kind(request)
    return json_response(await record_page(request, kind, read_query(request, RecordQuery)))


async def record_page(request: web.Request, kind: str, query: RecordQuery) -> RecordList:
    """One page of the caller's records of a kind (the JSON list and the portal's data page)."""
    scope = f"records:{kind}:{query.sort}"
    after = decode_cursor(query.cursor, scope)
    where, args = ["kind = $1"], [kind]

    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.source is not None:
        where.append(f"source = {arg(query.source)}")
    if query.updated_since is not None:
        where.append(f"updated_at >= {arg(query.updated_since)}")
    if query.status is not None:
        where.append(f"status = {arg(query.status)}")
    if query.q:
        where.append(f"(title ILIKE {arg(_like(query.q))} OR external_id = {arg(query.q)})")
    if not query.include_deleted:
        where.append("NOT deleted")
    descending = query.sort.startswith("-")
    if after is not None:
        bound = f"({arg(after[0])}::timestamptz, {arg(after[1])}::text)"
        where.append(f"(updated_at, id) {'<' if descending else '>'} {bound}")
    order = "DESC" if descending else "ASC"
    sql = (
        f"SELECT {LIST_COLUMNS} FROM records WHERE {' AND '.join(where)} "
        f"ORDER BY updated_at {order}, id {order} LIMIT {arg(query.limit + 1)}"
    )
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch(sql, *args)
    fit = _fitting(rows, query.limit, request.app[CONFIG].list_max_bytes)
    items, cursor = page(rows[: fit + 1], fit, scope, sort_field="updated_at")
    return RecordList(items=[_record(r) for r in items], next=cursor)


@routes.route(
    "GET",
    "/v1/records/{kind}/{id}",
    permission="records:read",
    summary="One record by its id",
    response=Record,
    errors=(404,),
    path_schemas={"kind": KIND_SCHEMA},
)
async def get_record(request: web.Request) -> web.Response:
    return json_response(await one_record(request, _kind(request), request.match_info["id"]))


async def one_record(request: web.Request, kind: str, record_id: str) -> Record:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM records WHERE kind = $1 AND id = $2", kind, record_id)
    if row is None:
        raise ProblemError("not-found", f"no {kind} with this id")
    return _record(row)


@routes.route(
    "GET",
    "/v1/records/{kind}/{id}/history",
    permission="records:read",
    summary="A record's history: the events about it in the event log, newest first",
    response=RecordHistory,
    errors=(404,),
    path_schemas={"kind": KIND_SCHEMA},
)
async def get_record_history(request: web.Request) -> web.Response:
    return json_response(await record_history(request, _kind(request), request.match_info["id"]))


async def record_history(request: web.Request, kind: str, record_id: str) -> RecordHistory:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        found = await conn.fetchrow(
            "SELECT source, external_id FROM records WHERE kind = $1 AND id = $2", kind, record_id
        )
        if found is None:
            raise ProblemError("not-found", f"no {kind} with this id")
        rows = await conn.fetch(
            """SELECT id, type, occurred_at, recorded_at, body FROM event_log
               WHERE source = $1 AND subject_kind = $2 AND subject_id = $3
               ORDER BY occurred_at DESC, stream_ms DESC, stream_seq DESC LIMIT $4""",
            found["source"],
            kind,
            found["external_id"],
            HISTORY_LIMIT + 1,
        )
    items = [
        RecordEvent(r["id"], r["type"], r["occurred_at"], r["recorded_at"], msgspec.Raw(r["body"].encode()))
        for r in rows[:HISTORY_LIMIT]
    ]
    return RecordHistory(items, truncated=len(rows) > HISTORY_LIMIT)

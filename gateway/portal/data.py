"""Data: records by kind with filters (text, status, connector), sort and paging, and one record's page. The
same functions as GET /v1/records/{kind} and GET /v1/records/{kind}/{id}."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from gateway.portal.web import page, render
from gateway.problems import ProblemError
from gateway.routes_records import KINDS, RecordQuery, known_kinds, one_record, record_history, record_page

routes = web.RouteTableDef()
PAGE_SIZE = 25
# the entity fields that name a record in a list, first found wins
TITLE_FIELDS = ("name", "title", "number", "email", "full_name", "subject", "sku", "text")


def title_of(data: dict[str, Any]) -> str:
    for name in TITLE_FIELDS:
        value = data.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value)[:120]
    return ""


@routes.get("/portal/data")
@page("records:read")
async def records(request: web.Request) -> web.Response:
    kind = known_kinds([request.query.get("kind") or "order"], slug="validation")[0]
    filters = {k: v for k in ("q", "status", "source", "sort", "cursor") if (v := request.query.get(k, "").strip())}
    try:
        query = msgspec.convert({**filters, "limit": PAGE_SIZE}, RecordQuery)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
    found = await record_page(request, kind, query)
    rows = [(r, title_of(msgspec.json.decode(r.data))) for r in found.items]
    next_query = {k: v for k, v in filters.items() if k != "cursor"} | {"kind": kind}
    return render(
        request,
        "data.html",
        kind=kind,
        kinds=sorted(KINDS),
        filters=filters,
        rows=rows,
        next=found.next,
        next_query=next_query,
    )


@routes.get("/portal/data/{kind}/{record_id}")
@page("records:read")
async def record(request: web.Request) -> web.Response:
    kind = known_kinds([request.match_info["kind"]], slug="not-found")[0]
    found = await one_record(request, kind, request.match_info["record_id"])
    data = msgspec.json.decode(found.data)
    pretty = msgspec.json.format(msgspec.json.encode(data), indent=2).decode()
    history = await record_history(request, kind, found.id)
    events = [(e, msgspec.json.format(bytes(e.event), indent=2).decode()) for e in history.items]
    return render(
        request, "record.html", record=found, title=title_of(data), pretty=pretty, events=events, history=history
    )

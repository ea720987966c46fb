"""The console's stream browser and replay: a range of one stream with filters (type, tenant, id or time bounds)
through GET /v1/admin/streams/{stream}/events' function, and a range of the event log replayed to one group through
POST /v1/admin/replay's (the producers' range, inspection and replay helpers underneath, as `bizosaas replay`)."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
from aiohttp import web

from gateway.portal.web import FORM, page, redirect, render
from gateway.problems import ProblemError
from gateway.roles import OPERATOR
from gateway.routes_admin import RangeQuery, ReplayRequest, replay_range, stream_range
from gateway.state import CONFIG, REDIS
from producers.replay import known_groups

routes = web.RouteTableDef()
PAGE_SIZE = 50
CONSOLE_SIGN_IN = "/console/sign-in"
RANGE_FIELDS = ("start", "end", "tenant", "type")


def _converted(fields: dict, into: type):
    try:
        return msgspec.convert(fields, into)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None


def _range_fields(values) -> dict[str, str]:
    return {k: v for k in RANGE_FIELDS if (v := str(values.get(k, "")).strip())}


@routes.get("/console/streams/{stream:[^/]+}")
@page(OPERATOR, sign_in=CONSOLE_SIGN_IN)
async def stream_page(request: web.Request) -> web.Response:
    stream = request.match_info["stream"]
    filters = _range_fields(request.query)
    found = await stream_range(request.app, stream, _converted({**filters, "limit": PAGE_SIZE}, RangeQuery))
    rows = [(e.id, e.event, msgspec.json.format(msgspec.json.encode(e.event), indent=2).decode()) for e in found.items]
    more = urlencode({**filters, "start": found.next}) if found.next else ""
    replay = urlencode(filters)
    return render(request, "stream.html", stream=stream, filters=filters, rows=rows, more=more, replay=replay)


@routes.get("/console/replay")
@page(OPERATOR, sign_in=CONSOLE_SIGN_IN)
async def replay_page(request: web.Request) -> web.Response:
    groups = await known_groups(request.app[REDIS], request.app[CONFIG].partitions)
    filters = _range_fields(request.query)
    done = request.query.get("queued", "")
    return render(request, "replay.html", groups=groups, filters=filters, done=done)


@routes.post("/console/replay")
@page(OPERATOR, sign_in=CONSOLE_SIGN_IN)
async def replay(request: web.Request) -> web.Response:
    form = request[FORM]
    fields = _range_fields(form)
    fields.setdefault("start", "-")
    types = [fields.pop("type")] if "type" in fields else []
    body = _converted({**fields, "group": str(form.get("group", "")), "types": types}, ReplayRequest)
    result = await replay_range(request.app, body)
    return redirect(f"/console/replay?{urlencode({'queued': f'{result.group}:{result.queued}'})}")

"""The console's dead letters: a group's entries it gave up on, with their errors, to redrive (all or one) or
discard, through the functions of GET/POST /v1/admin/dead-letters/{group} (the producers' helpers underneath)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.portal.web import FORM, page, redirect, render
from gateway.problems import ProblemError
from gateway.roles import OPERATOR
from gateway.routes_admin import DeadLetterAction, DeadLetterQuery, act_on_dead_letters, dead_letter_page, group_named

routes = web.RouteTableDef()
PAGE_SIZE = 50
CONSOLE_SIGN_IN = "/console/sign-in"


@routes.get("/console/dead-letters/{group}")
@page(OPERATOR, sign_in=CONSOLE_SIGN_IN)
async def dead_letters(request: web.Request) -> web.Response:
    group = group_named(request.match_info["group"])
    start = request.query.get("start", "-")
    try:
        query = msgspec.convert({"start": start, "limit": PAGE_SIZE}, DeadLetterQuery)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
    found = await dead_letter_page(request.app, group, query)
    done = request.query.get("done", "")
    return render(request, "dead_letters.html", group=group, letters=found, done=done)


@routes.post("/console/dead-letters/{group}")
@page(OPERATOR, sign_in=CONSOLE_SIGN_IN)
async def act(request: web.Request) -> web.Response:
    group = group_named(request.match_info["group"])
    form = request[FORM]
    action = "discard" if form.get("action") == "discard" else "redrive"
    one = str(form.get("id", "")).strip()
    if action == "discard" and not one:
        raise ProblemError("validation", "discard names one dead letter", errors=["id"])
    result = await act_on_dead_letters(request.app, group, DeadLetterAction(action=action, ids=[one] if one else None))
    return redirect(f"/console/dead-letters/{group}?done={result.action}:{result.count}")

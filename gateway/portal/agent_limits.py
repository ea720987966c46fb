"""The tenant's agent limits: the daily token budget and the runs at once in effect, the deployment's ceilings, and
today's use (tokens the runs and chat turns spent this UTC day, runs holding a slot now). An admin changes them with
the same function and permission as PATCH /v1/agent-limits (`agents:manage`); an empty field returns it to the
deployment's default."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from agents.budget import runs_in_progress, tokens_today
from db.pool import tenant_transaction
from gateway.portal.web import FORM, page, redirect, render
from gateway.problems import ProblemError
from gateway.routes_agents import AgentLimitsPatch, agent_limits_view, update_agent_limits
from gateway.state import CONFIG, POOL, tenant_of

routes = web.RouteTableDef()
FIELDS = ("daily_token_budget", "max_concurrent_runs")


async def _page(request: web.Request, status: int = 200, error: str = "", values: dict | None = None):
    limits = await agent_limits_view(request)
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        spent = await tokens_today(conn)
        running = await runs_in_progress(conn, request.app[CONFIG].agent_run_timeout_s)
    shown = values or {name: str(getattr(limits, name)) for name in FIELDS}
    saved = request.query.get("done") == "saved"
    return render(
        request,
        "agent_limits.html",
        status=status,
        limits=limits,
        spent=spent,
        running=running,
        values=shown,
        error=error,
        saved=saved,
    )


@routes.get("/portal/agent-limits")
@page("agents:read")
async def agent_limits(request: web.Request) -> web.Response:
    return await _page(request)


def _patch(form: Any) -> AgentLimitsPatch:
    """The form's fields as the JSON patch: a number, or null (left empty) for the deployment's default."""
    fields: dict[str, Any] = {}
    for name in (n for n in FIELDS if n in form):  # a field the form did not send stays as it is
        raw = str(form[name]).strip()
        fields[name] = None if raw == "" else int(raw) if raw.isdigit() else raw
    try:
        return msgspec.convert(fields, AgentLimitsPatch)
    except msgspec.ValidationError as exc:  # names the field: "Expected `int` ... - at `$.daily_token_budget`"
        raise ProblemError("validation", str(exc)) from None


@routes.post("/portal/agent-limits")
@page("agents:manage")
async def change_agent_limits(request: web.Request) -> web.Response:
    form = request[FORM]
    try:
        await update_agent_limits(request, _patch(form))
    except ProblemError as exc:
        if exc.slug != "validation":
            raise
        values = {name: str(form.get(name, "")) for name in FIELDS}  # what was typed stays
        return await _page(request, status=422, error=exc.detail, values=values)
    return redirect("/portal/agent-limits?done=saved")

"""Agents: the catalog by category with the tenant's state of each agent (enable/disable and autonomy for the roles
that may manage agents), the runs with their outputs and citations, one run, and the approval inbox whose Approve and
Reject forms decide a run awaiting approval. The same functions as GET/PATCH /v1/agents, GET /v1/agent-runs and
POST /v1/agent-runs/{id}/approve|reject."""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

import aiohttp_jinja2
import msgspec
from aiohttp import web

from agents.catalog import CATEGORIES
from gateway.pagination import MAX_LIMIT
from gateway.portal.live import follow
from gateway.portal.web import FORM, page, page_context, redirect, render
from gateway.problems import ProblemError
from gateway.routes_agent_runs import AgentRun, AgentRunQuery, decide_run, run_detail, run_page
from gateway.routes_agents import AgentPatch, AgentQuery, agent_limits_view, agent_page, update_agent

routes = web.RouteTableDef()
RUNS_PAGE_SIZE = 25
# the autonomy form's one choice -> PATCH /v1/agents/{agent}'s fields
MODES = {
    "suggest": {"autonomy": "suggest", "act_without_approval": False},
    "act": {"autonomy": "act", "act_without_approval": False},
    "act-unattended": {"autonomy": "act", "act_without_approval": True},
}
NOTICES = {
    "enabled": "The agent is enabled: its triggers wake it from now on.",
    "disabled": "The agent is disabled: nothing wakes it any more.",
    "mode": "The agent's autonomy is changed.",
    "approved": "Approved: its proposed actions become commands in a moment.",
    "rejected": "Rejected: the run ends without issuing anything.",
}
STATUSES = ("started", "deferred", "awaiting_approval", "completed", "failed")


def _record_id(citation: dict[str, Any]) -> str | None:
    """A cited record's id: a run's citations name `record_id` (agents/tools.py's Trace), the chat's are
    `{"type": "record", "id"}` (agents/chat_tools.py)."""
    if citation.get("record_id"):
        return str(citation["record_id"])
    return str(citation["id"]) if citation.get("type") == "record" and citation.get("id") else None


def citation_link(citation: dict[str, Any]) -> str | None:
    """The portal page of what an answer cited: a record's (documents are records of kind `document`)."""
    record_id = _record_id(citation)
    return f"/portal/data/{citation['kind']}/{record_id}" if record_id and citation.get("kind") else None


def citation_label(citation: dict[str, Any]) -> str:
    kind = citation.get("type")
    if record_id := _record_id(citation):
        return f"{citation.get('kind', '')} {citation.get('title') or citation.get('external_id') or record_id}".strip()
    if kind == "aggregate":
        return f"the {citation.get('name', '')} figures"
    if kind == "agent_run_request":
        return f"a run asked of a specialist (command {citation.get('command', '')})"
    return json.dumps(citation)[:200]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _mode(agent) -> str:
    if agent.autonomy == "act":
        return "act-unattended" if agent.act_without_approval else "act"
    return "suggest"


@routes.get("/portal/agents")
@page("agents:read")
async def agents(request: web.Request) -> web.Response:
    listed = await agent_page(request, AgentQuery(limit=MAX_LIMIT))  # the whole catalog (93 entries) on one page
    ordered = sorted(listed.items, key=lambda a: (list(CATEGORIES).index(a.category), a.name))
    by_category = [(category, list(items)) for category, items in groupby(ordered, key=lambda a: a.category)]
    return render(
        request,
        "agents.html",
        by_category=by_category,
        enabled=sum(1 for a in listed.items if a.enabled),
        total=len(listed.items),
        mode_of=_mode,
        limits=await agent_limits_view(request),
        notice=NOTICES.get(request.query.get("done", "")),
    )


@routes.post("/portal/agents/{agent}")
@page("agents:manage")
async def change_agent(request: web.Request) -> web.Response:
    form, agent = request[FORM], request.match_info["agent"]
    fields: dict[str, Any]
    if form.get("enabled") in ("true", "false"):
        enabled = form["enabled"] == "true"
        fields, done = {"enabled": enabled}, "enabled" if enabled else "disabled"
    elif str(form.get("mode", "")) in MODES:
        fields, done = MODES[str(form["mode"])], "mode"
    else:
        raise ProblemError("validation", "give enabled (true or false) or mode (suggest, act, act-unattended)")
    await update_agent(request, agent, msgspec.convert(fields, AgentPatch))
    return redirect(f"/portal/agents?done={done}#agent-{agent}")


def _run_query(request: web.Request, status: str | None) -> AgentRunQuery:
    values = {"limit": RUNS_PAGE_SIZE, "status": status, "agent": request.query.get("agent") or None}
    values["cursor"] = request.query.get("cursor") or None
    try:
        return msgspec.convert({k: v for k, v in values.items() if v is not None}, AgentRunQuery)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None


def _runs_context(request: web.Request) -> dict[str, Any]:
    return {
        "citation_link": citation_link,
        "citation_label": citation_label,
        "pretty": _pretty,
        "notice": NOTICES.get(request.query.get("done", "")),
    }


@routes.get("/portal/agent-runs")
@page("records:read")
async def runs(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    listed = await run_page(request, _run_query(request, status))
    return render(
        request,
        "agent_runs.html",
        runs=listed,
        run_status=status,  # not `status`: render's own argument (the HTTP status)
        statuses=STATUSES,
        agent_filter=request.query.get("agent", ""),
        **_runs_context(request),
    )


@routes.get("/portal/approvals")
@page("records:read")
async def approvals(request: web.Request) -> web.Response:
    listed = await run_page(request, _run_query(request, "awaiting_approval"))
    return render(request, "approvals.html", runs=listed, **_runs_context(request))


@routes.get("/portal/agent-runs/{run_id}")
@page("records:read")
async def run(request: web.Request) -> web.Response:
    found: AgentRun = await run_detail(request, request.match_info["run_id"])
    return render(request, "agent_run.html", run=found, **_runs_context(request))


@routes.get("/portal/agent-runs/{run_id}/live")
@page("records:read")
async def run_live(request: web.Request) -> web.StreamResponse:
    """The run's state as it changes (started -> awaiting approval -> completed), by server-sent events."""
    run_id = request.match_info["run_id"]

    async def fragment() -> str:  # 404 (a page) for another tenant's run, before the stream starts
        context = {**page_context(request), **_runs_context(request), "run": await run_detail(request, run_id)}
        return aiohttp_jinja2.render_string("_run_state.html", request, context)

    return await follow(request, fragment)


async def _decide(request: web.Request, approved: bool) -> web.Response:
    run_id, form = request.match_info["run_id"], request[FORM]
    reason = str(form.get("reason", "")).strip()
    if len(reason) > 2000:
        raise ProblemError("validation", "reason: at most 2000 characters", errors=["reason"])
    await decide_run(request, run_id, approved, reason)
    done = "approved" if approved else "rejected"
    back = "/portal/approvals" if form.get("back") == "approvals" else f"/portal/agent-runs/{run_id}"
    return redirect(f"{back}?done={done}")


@routes.post("/portal/agent-runs/{run_id}/approve")
@page("commands:write")
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, approved=True)


@routes.post("/portal/agent-runs/{run_id}/reject")
@page("commands:write")
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, approved=False)

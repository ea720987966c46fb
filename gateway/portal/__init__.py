"""The client portal (/portal/) and the operator console (/console/): server-rendered pages (Jinja2) whose
handlers call the JSON routes' own functions. One module per area; what they share is in web.py; sessions in
sessions.py. docs/portal.md describes the pages and the security choices."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.portal import (
    agent_limits,
    agents,
    audit,
    chat,
    connectors,
    console,
    data,
    dead_letters,
    deliveries,
    health,
    home,
    keys,
    knowledge,
    live,
    oidc,
    onboarding,
    search,
    signin,
    streams,
    team,
)
from gateway.portal.sessions import SessionStore
from gateway.portal.web import SESSIONS, redirect
from gateway.state import CONFIG, REDIS

PAGE_MODULES = (signin, oidc, home, connectors, data, search, keys, console, dead_letters, live)
PAGE_MODULES += (onboarding, team, audit)  # people: onboarding, memberships and invites, the audit log
PAGE_MODULES += (knowledge, streams, health)  # knowledge upload; the console's stream browser, replay, health
PAGE_MODULES += (agents, chat, deliveries)  # agents, runs and approvals; the chat; a connector's deliveries
PAGE_MODULES += (agent_limits,)  # the daily token budget and runs at once


async def _sessions(app: web.Application) -> AsyncIterator[None]:
    app[SESSIONS] = SessionStore(app[REDIS], app[CONFIG].portal_session_s)
    yield


async def _portal_root(request: web.Request) -> web.Response:
    return redirect("/portal/")


def setup(app: web.Application) -> None:
    """Add the pages; the sessions' store opens after the gateway's Redis client (cleanup contexts run in order)."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway.portal", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/portal", _portal_root)
    for module in PAGE_MODULES:
        app.router.add_routes(module.routes)
    live.setup(app)
    app.cleanup_ctx.append(_sessions)


def page_routes() -> list[tuple[str, str]]:
    """Every page route (method, path; a pattern's regex left out): docs/gateway.md names them (tests/test_repo.py)."""
    return [("GET", "/portal")] + [
        (r.method, re.sub(r"{(\w+):[^}]*}", r"{\1}", r.path)) for m in PAGE_MODULES for r in m.routes
    ]

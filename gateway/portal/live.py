"""Live parts of pages by server-sent events, and the one script that reads them (static/portal.js).

`/portal/connectors/{id}/live` sends the connector's sync history (the same fragment the page renders) whenever it
changes (`follow`, which an agent run's page uses too), checking the session on every round so sign-out or
revocation ends the stream. A stream also ends when the browser goes away, when the gateway shuts down (without
holding its graceful shutdown) and after LIVE_S; the browser's EventSource reconnects (charged to the caller's rate
limits like any page).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib import resources

import aiohttp_jinja2
from aiohttp import web

from gateway.portal.web import SECURITY_HEADERS, current, page
from gateway.routes_syncs import SyncRunQuery, sync_runs

routes = web.RouteTableDef()
CLOSING = web.AppKey("portal_live_closing", asyncio.Event)
POLL_S = 1.0  # how often a stream looks for a change (one indexed query)
LIVE_S = 300.0  # a stream's longest life; the browser reconnects
SCRIPT = resources.files("gateway.portal").joinpath("static/portal.js").read_bytes()


@routes.get("/portal/static/portal.js")
async def script(request: web.Request) -> web.Response:
    return web.Response(
        body=SCRIPT,
        content_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def sse_event(name: str, data: str) -> bytes:
    """One server-sent event; each line of `data` is a `data:` line (the browser joins them with newlines)."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n".encode()


@routes.get("/portal/connectors/{connector_id}/live")
@page("connectors:read")
async def sync_history(request: web.Request) -> web.StreamResponse:
    connector_id = request.match_info["connector_id"]

    async def fragment() -> str:  # 404 (a page) for another tenant's connector, before the stream starts
        runs = await sync_runs(request, connector_id, SyncRunQuery())
        return aiohttp_jinja2.render_string("_sync_runs.html", request, {"runs": runs})

    return await follow(request, fragment)


async def follow(request: web.Request, fragment: Callable[[], Awaitable[str]]) -> web.StreamResponse:
    """Send `fragment()` as an `html` event now and whenever it changes (one call per POLL_S). Its first call runs
    before the stream starts, so an error there is answered as a page."""
    html = await fragment()
    response = web.StreamResponse(headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    sent, deadline, closing = None, time.monotonic() + LIVE_S, request.app[CLOSING]
    while time.monotonic() < deadline:
        if html != sent:
            await response.write(sse_event("html", html))
            sent = html
        try:
            await asyncio.wait_for(closing.wait(), POLL_S)
            break  # the gateway is shutting down
        except TimeoutError:
            pass
        gone = request.transport is None or request.transport.is_closing()
        if gone or await current(request) is None:  # the browser left, or signed out or was revoked meanwhile
            break
        html = await fragment()
    return response


def setup(app: web.Application) -> None:
    app[CLOSING] = closing = asyncio.Event()

    async def shutting_down(app: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(shutting_down)

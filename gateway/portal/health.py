"""The console's servers' health: each server's row as `bizosaas status` prints it (gateway/health.py's
`servers_health`); the gateway's row is this process's own readiness (GET /readyz's function), not a call to itself."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.health import postgres_facts, readiness_facts, servers_health, temporal_reachable, where
from gateway.portal.web import page, render
from gateway.roles import OPERATOR
from gateway.routes_service import readiness
from gateway.state import CONFIG, POOL, REDIS

routes = web.RouteTableDef()


async def _this_gateway(app: web.Application) -> str:
    ready = await readiness(app)
    return readiness_facts(msgspec.to_builtins(ready), ready.status == "ready")


@routes.get("/console/health")
@page(OPERATOR, sign_in="/console/sign-in")
async def health(request: web.Request) -> web.Response:
    app, config = request.app, request.app[CONFIG]
    places = (where(config.redis_url), where(config.database_url), config.vault_addr, config.temporal_address, "here")
    servers = await servers_health(
        app[REDIS],
        postgres_facts(app[POOL]),
        config.vault_addr,
        temporal_reachable(config.temporal_address),
        _this_gateway(app),
        places,
    )
    return render(request, "health.html", servers=servers)

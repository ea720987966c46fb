"""Service hygiene: liveness, readiness (Redis, Postgres, Vault; and whether the search model has loaded), Prometheus
metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import metrics as gateway_metrics
from gateway.openapi import openapi_document
from gateway.routes_search import WARMUP
from gateway.routing import Routes, json_response
from gateway.state import POOL, REDIS, ROUTE_SPECS, SECRETS

routes = Routes("service")


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str  # ready | unavailable
    redis: bool
    postgres: bool
    vault: bool
    # the local search model: vector and hybrid search answer 503 until it is `ready` (keyword search always works).
    # Not part of `status`: the gateway takes webhooks and serves reads while it loads.
    search: Literal["loading", "ready", "failed"] = "ready"


@routes.route("GET", "/healthz", permission="public", summary="The process is alive", response=Health)
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


async def _check(probe) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, 2.0))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


@routes.route(
    "GET",
    "/readyz",
    permission="public",
    summary="Redis, Postgres and Vault are reachable",
    response=Readiness,
    same_body_statuses=(503,),
)
async def readyz(request: web.Request) -> web.Response:
    body = await readiness(request.app)
    return json_response(body, status=200 if body.status == "ready" else 503)


async def readiness(app: web.Application) -> Readiness:
    """Whether this process reaches Redis, Postgres and Vault (GET /readyz and the console's health page)."""
    redis_ok, pg_ok, vault_ok = await asyncio.gather(
        _check(app[REDIS].ping()),
        _check(app[POOL].fetchval("SELECT true")),
        _check(app[SECRETS].ping()),
    )
    ready = redis_ok and pg_ok and vault_ok
    return Readiness(
        status="ready" if ready else "unavailable",
        redis=redis_ok,
        postgres=pg_ok,
        vault=vault_ok,
        search=app[WARMUP].state,
    )


@routes.route(
    "GET",
    "/metrics",
    permission="public",
    summary="Prometheus metrics",
    response=str,
    response_content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(gateway_metrics.scraped()))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


@routes.route("GET", "/openapi.json", permission="public", summary="This document (OpenAPI 3.1)", response=dict)
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(request.app[ROUTE_SPECS]))

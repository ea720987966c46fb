"""The two middlewares every request passes: `observe` (request id, problem responses, metrics, the JSON request
log) and `authorize` (bearer authentication, the route's permission, rate limits)."""

from __future__ import annotations

import logging
import random
import time

from aiohttp import web

from events.errors import is_transient
from gateway import metrics
from gateway.problems import ProblemError, problem_response, slug_for_status
from gateway.ratelimit import operator_limits, retry_after, tenant_limits
from gateway.roles import PUBLIC, Principal, allows
from gateway.routing import spec_of
from gateway.state import AUTH, CONFIG, LIMITER, LOG_CONNECTOR, LOG_TENANT, PRINCIPAL, REQUEST_ID
from producers.publisher import is_out_of_memory

log = logging.getLogger("bizosaas.gateway")


@web.middleware
async def observe(request: web.Request, handler) -> web.StreamResponse:
    # a request id has to be unique, not secret: the process's generator, not a system call per request
    request_id = request.headers.get("X-Request-Id", "")[:64] or f"{random.getrandbits(64):016x}"
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    spec = spec_of(getattr(request.match_info, "handler", None))
    resource = request.match_info.route.resource
    # a page (no spec) is labelled by its path template: a bounded set, like the JSON routes'
    route = spec.template if spec else (resource.canonical if resource is not None else "unmatched")
    try:
        if "\x00" in request.path or "\x00" in request.query_string:
            raise ProblemError("bad-request", "NUL characters are not accepted in the path or the query")
        response = await handler(request)
    except ProblemError as exc:
        response = problem_response(exc.slug, exc.detail, exc.headers, exc.errors)
    except web.HTTPException as exc:  # the router's 404/405, aiohttp's 413 ...
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        response = problem_response(slug_for_status(exc.status), exc.reason, headers)
        response.set_status(exc.status)
    except Exception as exc:  # answer a problem, log the traceback
        if is_out_of_memory(exc):  # nothing was accepted: a provider must retry, so never 2xx (nor a bare 500)
            log.error("Redis refuses writes (maxmemory): %s", exc, extra=_context(request))
            response = problem_response("storage-full", "the event store is full; retry later", {"Retry-After": "30"})
        elif is_transient(exc):  # events/errors.py: a backing service is down, restarting or overloaded
            log.warning("backing service unavailable: %s: %s", type(exc).__name__, exc, extra=_context(request))
            response = problem_response(
                "unavailable", "a backing service is unavailable; retry later", {"Retry-After": "1"}
            )
        else:
            log.exception("unhandled error on %s %s", request.method, route, extra=_context(request))
            response = problem_response("internal", f"request {request_id} failed; the error is logged")
    elapsed = time.perf_counter() - started
    response.headers["X-Request-Id"] = request_id
    metrics.REQUESTS.labels(request.method, route, str(response.status)).inc()
    metrics.LATENCY.labels(request.method, route).observe(elapsed)
    level = logging.INFO if response.status < 500 else logging.ERROR
    if log.isEnabledFor(level):
        log.log(
            level, "%s %s %d %.1fms", request.method, route, response.status, elapsed * 1000, extra=_context(request)
        )
    return response


def _context(request: web.Request) -> dict:
    principal = request.get(PRINCIPAL)
    return {
        "request_id": request.get(REQUEST_ID),
        "tenant_id": principal.tenant_id if principal else request.get(LOG_TENANT),
        "connector_id": request.match_info.get("connector_id") or request.get(LOG_CONNECTOR),
    }


@web.middleware
async def authorize(request: web.Request, handler) -> web.StreamResponse:
    spec = spec_of(getattr(request.match_info, "handler", None))
    if spec is None or spec.permission == PUBLIC:
        return await handler(request)
    principal = await request.app[AUTH].authenticate(request.headers.get("Authorization"), request.remote or "")
    request[PRINCIPAL] = principal
    if not allows(principal, spec.permission):
        raise ProblemError("forbidden", f"this route needs the permission {spec.permission!r}")
    await charge(request, principal, spec.permission)
    return await handler(request)


async def charge(request: web.Request, principal: Principal, permission: str) -> None:
    """The rate limits of a caller's request (JSON routes and portal pages alike): 429 past them."""
    config = request.app[CONFIG]
    key_limit = (config.key_rate_per_s, config.key_burst)
    if principal.tenant_id is not None and not (principal.operator and permission == "operator"):
        limits = tenant_limits(
            principal.tenant_id, principal.rate_key, (config.tenant_rate_per_s, config.tenant_burst), key_limit
        )
    else:
        limits = operator_limits(principal.rate_key, key_limit)
    wait_s = await request.app[LIMITER].check(limits)
    if wait_s > 0:
        raise ProblemError("rate-limited", "slow down", headers={"Retry-After": retry_after(wait_s)})

"""Outbound webhooks, what was sent and what to send again: the event types one can subscribe to, trigger samples
(Zapier's "sample data"), each subscription's attempt log, a manual retry, and "recover every failed delivery
since T". The subscriptions themselves: gateway/routes_hooks.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from db.pool import tenant_transaction
from events.catalog import type_schema
from events.codec import EventDecodeError, decode_event
from events.outbound import PUBLISHED, WILDCARD, matches, pattern_problem, payload
from events.types import EVENT_TYPES
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, Timestamp, json_response, read_json, read_query
from gateway.state import POOL, tenant_of

routes = Routes("hooks")

SAMPLE_SCAN = 500  # recent events looked through for samples
SAMPLES = 3
STRUCTS = {t.__struct_config__.tag: t for t in EVENT_TYPES}
Status = Literal["pending", "delivered", "failed", "gone"]


class EventTypes(msgspec.Struct):
    items: list[str]  # every published event type a subscription may name (or match with `domain.kind.*`)


class SampleQuery(msgspec.Struct):
    event_type: Annotated[str, Meta(min_length=1, max_length=200)] = WILDCARD


class Samples(msgspec.Struct):
    items: list[msgspec.Raw]  # recent payloads of matching events, newest first, exactly as a subscription gets them
    schema: dict | None = None  # the JSON Schema of `data` when event_type names one type


class Attempt(msgspec.Struct):
    id: str
    hook_id: str
    event_id: str  # also the webhook-id header
    event_type: str
    status: Status
    attempts: int
    next_attempt_at: Timestamp | None  # when pending
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    created_at: Timestamp


class AttemptList(msgspec.Struct):
    items: list[Attempt]
    next: str | None


class AttemptQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    status: Status | None = None


class Recover(msgspec.Struct, forbid_unknown_fields=True):
    since: Annotated[datetime, Meta(tz=True)]  # RFC 3339 with an offset


class Recovered(msgspec.Struct):
    queued: int  # failed attempts queued again


COLUMNS = (
    "id, hook_id, event_id, event_type, status, attempts, "
    "CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, last_status_code, last_error, "
    "last_attempt_at, delivered_at, created_at"
)
REQUEUE = "status = 'pending', next_attempt_at = now(), queued_at = now()"  # the retry horizon starts again


@routes.route(
    "GET",
    "/v1/hooks/event-types",
    permission="hooks:read",
    summary="The event types a subscription may name (the published catalog's current events)",
    response=EventTypes,
)
async def event_types(request: web.Request) -> web.Response:
    return json_response(EventTypes(items=list(PUBLISHED)))


@routes.route(
    "GET",
    "/v1/hooks/sample",
    permission="hooks:read",
    summary="Sample payloads for a trigger: the tenant's recent events matching event_type (a type or pattern), "
    "and the type's schema",
    query=SampleQuery,
    response=Samples,
)
async def sample(request: web.Request) -> web.Response:
    query = read_query(request, SampleQuery)
    problem = pattern_problem(query.event_type)
    if problem:
        raise ProblemError("validation", f"event_type: {problem}", errors=[f"event_type: {problem}"])
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        bodies = await conn.fetch("SELECT body FROM event_log ORDER BY id DESC LIMIT $1", SAMPLE_SCAN)
    items = []
    for row in bodies:
        try:
            event = decode_event(row["body"].encode())  # upcast: a subscription gets current versions only
        except EventDecodeError:
            continue
        if matches(query.event_type, event.type):
            items.append(msgspec.Raw(payload(event)))
            if len(items) == SAMPLES:
                break
    struct = STRUCTS.get(query.event_type)
    return json_response(Samples(items=items, schema=type_schema(struct) if struct else None))


async def _hook_exists(conn, hook_id: str) -> None:
    if await conn.fetchval("SELECT 1 FROM hook_subscriptions WHERE id = $1", hook_id) is None:
        raise ProblemError("not-found", "no such hook")


@routes.route(
    "GET",
    "/v1/hooks/{hook_id}/attempts",
    permission="hooks:read",
    summary="The subscription's delivery attempts, newest first (one per event: tries, status, last answer)",
    query=AttemptQuery,
    response=AttemptList,
    errors=(404,),
)
async def list_attempts(request: web.Request) -> web.Response:
    query = read_query(request, AttemptQuery)
    after = decode_cursor(query.cursor, f"hook-attempts:{query.status}")
    hook_id = request.match_info["hook_id"]
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        await _hook_exists(conn, hook_id)
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM hook_attempts WHERE hook_id = $1 AND ($2::text IS NULL OR status = $2) "
            # ids sort by creation time: the primary key (tenant, hook, id) walked backwards (migration 0042)
            "AND ($3::timestamptz IS NULL OR id < $4::text) "
            "ORDER BY id DESC LIMIT $5",
            hook_id,
            query.status,
            *(after or (None, "")),
            query.limit + 1,
        )
    items, cursor = page(rows, query.limit, f"hook-attempts:{query.status}")
    return json_response(AttemptList(items=[Attempt(**r) for r in items], next=cursor))


@routes.route(
    "POST",
    "/v1/hooks/{hook_id}/attempts/{attempt_id}/retry",
    permission="hooks:write",
    summary="Send one attempt again now (whatever its status; the retry horizon starts again)",
    response=Attempt,
    errors=(404,),
)
async def retry_attempt(request: web.Request) -> web.Response:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            f"UPDATE hook_attempts SET {REQUEUE} WHERE hook_id = $1 AND id = $2 RETURNING {COLUMNS}",
            request.match_info["hook_id"],
            request.match_info["attempt_id"],
        )
    if row is None:
        raise ProblemError("not-found", "no such attempt of this hook")
    return json_response(Attempt(**row))


@routes.route(
    "POST",
    "/v1/hooks/{hook_id}/recover",
    permission="hooks:write",
    summary="Queue again every failed attempt of the subscription created since `since`",
    body=Recover,
    response=Recovered,
    errors=(404,),
)
async def recover(request: web.Request) -> web.Response:
    body = await read_json(request, Recover)
    hook_id = request.match_info["hook_id"]
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        await _hook_exists(conn, hook_id)
        status = await conn.execute(
            f"UPDATE hook_attempts SET {REQUEUE} WHERE hook_id = $1 AND status = 'failed' AND created_at >= $2",
            hook_id,
            body.since,
        )
    return json_response(Recovered(queued=int(status.split()[-1])))

"""Webhook deliveries as received (the view Hookdeck and Svix give): list with filters, one with its body, and
re-running deliveries the normalizer could not handle (one, or in bulk) after a fix. `outcome=rejected` lists the
requests the webhook route refused, from the tenant's bounded rejected log (gateway/rejected.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
import msgspec
from aiohttp import web
from msgspec import Meta
from multidict import CIMultiDict, CIMultiDictProxy

from connectors.base import WebhookRequest
from connectors.ingest import context, run_normalizer, topic_label
from connectors.registry import UnknownProvider, get_provider
from db.pool import tenant_transaction
from gateway import metrics, rejected
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_page
from gateway.problems import ProblemError
from gateway.routing import Cursor, Routes, ShortText, Timestamp, json_response, read_json, read_query
from gateway.state import POOL, PUBLISHER, REDIS, tenant_of
from producers.publisher import Publisher

routes = Routes("deliveries")

Outcome = Literal["published", "unmapped", "handshake"]
ListedOutcome = Literal["published", "unmapped", "handshake", "rejected"]
REJECTED_PREFIX = "rjt_"  # a rejected request's id: this prefix and its entry id in the rejected log


class DeliverySummary(msgspec.Struct):
    id: str
    connector_id: str
    provider: str
    # the provider's delivery id; `<id>:sha256:<hash of the body>` where the provider's id may carry several
    # payloads (WooCommerce); sha256:<hash of the body> where it sends none
    delivery_id: str
    topic: str
    received_at: Timestamp
    last_received_at: Timestamp
    receipts: int  # how often the provider sent it
    outcome: ListedOutcome
    error: str | None
    event_ids: list[str]
    retries: int
    status: int | None = None  # rejected: the HTTP status the request was answered with
    headers: dict[str, str] | None = None  # rejected: its allow-listed headers (no body is kept)


class DeliveryDetail(DeliverySummary):
    content_type: str = ""
    headers: dict[str, str] = {}
    body: str = ""  # as received, decoded if it was compressed (shown as UTF-8, invalid bytes replaced; stored raw)


class DeliveryList(msgspec.Struct):
    items: list[DeliverySummary]
    next: str | None


class DeliveryQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None
    connector_id: ShortText | None = None
    outcome: ListedOutcome | None = None  # rejected: the refused requests (the newest ~1000 of the tenant)
    since: Timestamp | None = None  # received at or after
    until: Timestamp | None = None  # received before


class RetryResult(msgspec.Struct):
    id: str
    outcome: Outcome
    error: str | None
    events: int  # events published by this re-run


class BulkRetry(msgspec.Struct, forbid_unknown_fields=True):
    connector_id: ShortText | None = None
    outcome: Literal["unmapped", "published"] = "unmapped"
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 100


class BulkRetryResult(msgspec.Struct):
    items: list[RetryResult]
    published: int  # deliveries that now mapped
    unmapped: int  # deliveries that still do not


SUMMARY = (
    "id, connector_id, provider, delivery_id, topic, received_at, last_received_at, receipts, outcome, error, "
    "event_ids, retries"
)
FILTERS = (
    "($1::text IS NULL OR connector_id = $1) AND ($2::text IS NULL OR outcome = $2) "
    "AND ($3::timestamptz IS NULL OR received_at >= $3) AND ($4::timestamptz IS NULL OR received_at < $4)"
)


@routes.route(
    "GET",
    "/v1/deliveries",
    permission="deliveries:read",
    summary="List webhook deliveries, newest first (filters: connector, outcome, time; outcome=rejected: the "
    "refused requests)",
    query=DeliveryQuery,
    response=DeliveryList,
)
async def list_deliveries(request: web.Request) -> web.Response:
    return json_response(await delivery_page(request, read_query(request, DeliveryQuery)))


async def delivery_page(request: web.Request, query: DeliveryQuery) -> DeliveryList:
    if query.outcome == "rejected":
        return await _rejected(request, query)
    items, cursor = await fetch_page(
        request,
        query,
        "deliveries",
        f"SELECT {SUMMARY} FROM deliveries WHERE {FILTERS} "
        "AND ($5::timestamptz IS NULL OR (received_at, id) < ($5, $6::text)) "
        "ORDER BY received_at DESC, id DESC LIMIT $7",
        query.connector_id,
        query.outcome,
        query.since,
        query.until,
        sort_field="received_at",
    )
    return DeliveryList(items=[DeliverySummary(**r) for r in items], next=cursor)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


async def _rejected(request: web.Request, query: DeliveryQuery) -> DeliveryList:
    before = None
    if query.cursor is not None:
        before = query.cursor.removeprefix(REJECTED_PREFIX)
        if not query.cursor.startswith(REJECTED_PREFIX) or not re.fullmatch(r"\d{1,20}-\d{1,20}", before):
            raise ProblemError("validation", "cursor: not a cursor of this list")
    found = await rejected.newest(
        request.app[REDIS],
        tenant_of(request),
        query.limit + 1,
        before,
        query.connector_id,
        _ms(query.since),
        _ms(query.until),
    )
    items = [
        DeliverySummary(
            id=REJECTED_PREFIX + r.entry_id,
            connector_id=r.rejection.connector_id,
            provider=r.rejection.provider,
            delivery_id="",
            topic="",
            received_at=r.received_at,
            last_received_at=r.received_at,
            receipts=1,
            outcome="rejected",
            error=r.rejection.reason,
            event_ids=[],
            retries=0,
            status=r.rejection.status,
            headers=r.rejection.headers,
        )
        for r in found[: query.limit]
    ]
    return DeliveryList(items=items, next=items[-1].id if len(found) > query.limit else None)


@routes.route(
    "GET",
    "/v1/deliveries/{delivery_id}",
    permission="deliveries:read",
    summary="One delivery with its headers and body",
    response=DeliveryDetail,
    errors=(404,),
)
async def get_delivery(request: web.Request) -> web.Response:
    return json_response(await delivery_detail(request, request.match_info["delivery_id"]))


async def delivery_detail(request: web.Request, delivery_id: str) -> DeliveryDetail:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            f"SELECT {SUMMARY}, content_type, headers, body FROM deliveries WHERE id = $1", delivery_id
        )
    if row is None:
        raise ProblemError("not-found", "no such delivery")
    values = {**row, "headers": json.loads(row["headers"]), "body": bytes(row["body"]).decode(errors="replace")}
    return DeliveryDetail(**values)


async def rerun(conn: asyncpg.Connection, publisher: Publisher, tenant: str, delivery_id: str) -> RetryResult:
    """Normalize a stored delivery again and publish what it now maps to (in the tenant's transaction)."""
    row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id)
    if row is None:
        raise ProblemError("not-found", "no such delivery")
    try:
        provider = get_provider(row["provider"])
    except UnknownProvider:
        raise ProblemError("conflict", f"provider {row['provider']!r} is not available") from None
    config = await conn.fetchval("SELECT config FROM connectors WHERE id = $1", row["connector_id"])
    request = WebhookRequest(
        headers=CIMultiDictProxy(CIMultiDict(json.loads(row["headers"]))),
        body=bytes(row["body"]),
        content_type=row["content_type"],
    )
    attempt = row["retries"] + 1
    # a fresh received_at gives fresh event ids: the projector applies them (provider time still decides order)
    ctx = context(
        tenant,
        row["connector_id"],
        row["delivery_id"],
        datetime.now(UTC),
        json.loads(config) if config else {},
    )
    result = run_normalizer(
        provider, ctx, row["topic"], request, f"{row['connector_id']}:{row['delivery_id']}:retry{attempt}"
    )
    published = 0
    if result.outcome == "published":
        published = len(await publisher.publish(result.events, result.keys))
    await conn.execute(
        "UPDATE deliveries SET retries = $2, outcome = $3, error = $4, "
        "event_ids = CASE WHEN $3 = 'published' THEN $5::text[] ELSE event_ids END, updated_at = now() WHERE id = $1",
        delivery_id,
        attempt,
        result.outcome,
        result.error,
        [e.id for e in result.events],
    )
    metrics.WEBHOOKS.labels(row["provider"], topic_label(provider, row["topic"]), f"retry_{result.outcome}").inc()
    return RetryResult(id=delivery_id, outcome=result.outcome, error=result.error, events=published)


@routes.route(
    "POST",
    "/v1/deliveries/{delivery_id}/retry",
    permission="deliveries:retry",
    summary="Re-run one delivery through the normalizer and publish what it maps to",
    response=RetryResult,
    errors=(404, 409),
)
async def post_retry(request: web.Request) -> web.Response:
    return json_response(await retry_delivery(request, request.match_info["delivery_id"]))


async def retry_delivery(request: web.Request, delivery_id: str) -> RetryResult:
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        return await rerun(conn, request.app[PUBLISHER], tenant, delivery_id)


@routes.route(
    "POST",
    "/v1/deliveries/retry",
    permission="deliveries:retry",
    summary="Re-run matching deliveries (default: the unmapped ones), oldest first, up to `limit`",
    body=BulkRetry,
    response=BulkRetryResult,
    errors=(409,),
)
async def post_bulk_retry(request: web.Request) -> web.Response:
    body = await read_json(request, BulkRetry)
    tenant = tenant_of(request)
    async with tenant_transaction(request.app[POOL], tenant) as conn:
        ids = [
            r["id"]
            for r in await conn.fetch(
                f"SELECT id FROM deliveries WHERE {FILTERS} ORDER BY received_at, id LIMIT $5",
                body.connector_id,
                body.outcome,
                body.since,
                body.until,
                body.limit,
            )
        ]
        items = [await rerun(conn, request.app[PUBLISHER], tenant, i) for i in ids]
    published = sum(1 for i in items if i.outcome == "published")
    return json_response(BulkRetryResult(items=items, published=published, unmapped=len(items) - published))

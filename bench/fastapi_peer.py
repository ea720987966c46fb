"""The peer a user would otherwise write (bench/ingest_peer.py): a FastAPI + uvicorn webhook receiver doing the same
work as the gateway's webhook route for one WooCommerce connector — the HMAC-SHA256 signature checked in constant time
over the raw body, the platform's normalizer (the same events), and one Redis pipeline per request that publishes
them idempotently (the same dedupe keys and script: producers.publisher) with the delivery record.

    BENCH_REDIS_URL=... BENCH_SECRET=... BENCH_TENANT=... BENCH_CONNECTOR=... \\
        uvicorn bench.fastapi_peer:app --workers N --loop uvloop --http httptools --no-access-log

What it leaves out, in its favour: no connector lookup (one connector, known at start), no secret store, no rate
limits, no metrics, no request log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException, Request
from redis.asyncio import Redis

from connectors.base import WebhookRequest
from connectors.ingest import context, delivery_id_of, kept_headers, run_normalizer
from connectors.registry import get_provider
from events.deliveries import DeliveryRecord
from events.ids import new_id
from events.streams import DELIVERIES_STREAM
from producers.deliveries import record_fields
from producers.publisher import Publisher

SECRET = os.environ.get("BENCH_SECRET", "").encode()
TENANT = os.environ.get("BENCH_TENANT", "")
CONNECTOR = os.environ.get("BENCH_CONNECTOR", "")
PROVIDER = get_provider("woocommerce")
CONFIG = {"store_url": "http://127.0.0.1:9/bench-shop"}
state: dict = {}


@asynccontextmanager
async def lifespan(_app: FastAPI):
    state["redis"] = redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    state["publisher"] = Publisher(redis)
    yield
    await redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/webhooks/{connector_id}")
async def webhook(connector_id: str, request: Request) -> dict:
    if connector_id != CONNECTOR:
        raise HTTPException(404, "no such webhook endpoint")
    body = await request.body()
    given = request.headers.get("x-wc-webhook-signature", "").encode()
    expected = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest())
    if not hmac.compare_digest(given, expected):
        raise HTTPException(401, "the signature does not verify")
    delivery = WebhookRequest(headers=request.headers, body=body, content_type="application/json", url=str(request.url))
    topic = request.headers.get("x-wc-webhook-topic", "")
    delivery_id = delivery_id_of(PROVIDER, delivery)
    received_at = datetime.now(UTC)
    ctx = context(TENANT, connector_id, delivery_id, received_at, CONFIG)
    result = run_normalizer(PROVIDER, ctx, topic, delivery, f"{connector_id}:{delivery_id}")
    record = DeliveryRecord(
        id=ctx.record_id,
        receipt_id=new_id(),
        tenant_id=TENANT,
        connector_id=connector_id,
        provider="woocommerce",
        delivery_id=delivery_id,
        topic=topic,
        content_type="application/json",
        headers=kept_headers(PROVIDER, request.headers),
        body=body,
        received_at=received_at,
        outcome=result.outcome,
        error=result.error,
        event_ids=[e.id for e in result.events],
    )
    published = await state["publisher"].publish(
        result.events, result.keys, with_entries=[(DELIVERIES_STREAM, record_fields(record))]
    )
    return {
        "delivery": record.id,
        "outcome": result.outcome,
        "events": len(published),
        "duplicate": bool(published) and all(p.duplicate for p in published),
    }

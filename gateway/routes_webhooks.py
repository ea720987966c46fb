"""`POST /v1/webhooks/{connector_id}`: verify, dedupe, normalize, publish, answer fast.

Order of checks: unknown connector 404, declared size over the limit 413 (before reading), content type the provider
never sends 415, per-connector abuse limit 429, body read with a cap (413), signature 401. Handshakes are answered
directly. The events and the delivery record go to Redis through the batcher; Postgres is not on this path except
for a connector's first delivery after the routing cache expired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

import msgspec
from aiohttp import web

from connectors.base import Connector, SignatureError, WebhookRequest
from connectors.registry import UnknownProvider, get_connector
from events.ids import new_id
from gateway import metrics
from gateway.ingest import context, delivery_id_of, delivery_row_id, kept_headers, run_normalizer
from gateway.problems import ProblemError
from gateway.ratelimit import retry_after
from gateway.routing import Routes, json_response
from gateway.secrets import webhook_secrets
from gateway.state import BATCHER, CONFIG, LOG_TENANT, SECRETS, TARGETS, WEBHOOK_LIMITER
from gateway.targets import Target
from producers.deliveries import DeliveryRecord

log = logging.getLogger("bizosaas.gateway.webhooks")
routes = Routes("webhooks")


class WebhookAccepted(msgspec.Struct):
    delivery: str  # the platform's delivery id (GET /v1/deliveries/{id})
    outcome: str  # published | unmapped
    events: int
    duplicate: bool  # a repeat of a delivery already accepted: nothing new was published


async def _read_capped(request: web.Request, cap: int) -> bytes:
    length = request.content_length
    if length is not None:  # already checked against the cap; aiohttp delivers no more than this
        try:
            return await request.content.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            raise ProblemError("bad-request", "the body is shorter than its Content-Length") from None
    chunks, size = [], 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > cap:
            raise ProblemError("payload-too-large", f"webhook bodies are limited to {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _verify(app: web.Application, target: Target, connector_id: str, connector: Connector,
                  delivery: WebhookRequest) -> None:
    """The connector's signature check with the current secret (and the previous one during its grace period)."""
    now_s = time.time()
    secrets = webhook_secrets(await app[SECRETS].read(target.tenant_id, connector_id), now_s)
    try:
        if not secrets:
            raise SignatureError("the connector has no webhook secret")
        connector.verify(delivery, secrets, now_s)
    except SignatureError as exc:  # the reason goes to the log only
        log.warning("webhook refused: %s", exc, extra={"tenant_id": target.tenant_id, "connector_id": connector_id})
        metrics.WEBHOOKS.labels(target.provider, "", "bad_signature").inc()
        raise ProblemError("invalid-signature", "the signature does not verify") from None


@routes.route("POST", "/v1/webhooks/{connector_id}", permission="public",
              summary="Receive a provider's webhook delivery (authenticated by its signature)",
              response=WebhookAccepted, errors=(401, 404, 413, 415, 429),
              request_content_types=("application/json", "application/x-www-form-urlencoded"))
async def post_webhook(request: web.Request) -> web.StreamResponse:
    app, connector_id = request.app, request.match_info["connector_id"]
    config = app[CONFIG]
    target = await app[TARGETS].get(connector_id)
    if target is None:
        raise ProblemError("not-found", "no such webhook endpoint")
    request[LOG_TENANT] = target.tenant_id
    try:
        connector = get_connector(target.provider)
    except UnknownProvider:
        raise ProblemError("not-found", "this endpoint's provider is not available") from None
    if (request.content_length or 0) > config.webhook_max_body_bytes:
        raise ProblemError("payload-too-large", f"webhook bodies are limited to {config.webhook_max_body_bytes} bytes")
    content_type = request.content_type if "Content-Type" in request.headers else ""
    if content_type not in connector.content_types:
        raise ProblemError("unsupported-media-type", f"{target.provider} does not send {content_type or 'that'}")
    wait_s = app[WEBHOOK_LIMITER].check(connector_id)
    if wait_s > 0:
        raise ProblemError("rate-limited", "too many deliveries to this endpoint",
                           headers={"Retry-After": retry_after(wait_s)})
    body = await _read_capped(request, config.webhook_max_body_bytes)
    delivery = WebhookRequest(headers=request.headers, body=body, content_type=content_type)
    handshake = connector.handshake(delivery)
    if handshake is None or handshake.requires_signature:
        await _verify(app, target, connector_id, connector, delivery)
    if handshake is not None:
        metrics.WEBHOOKS.labels(target.provider, "", "handshake").inc()
        return web.Response(status=handshake.status, body=handshake.body, content_type=handshake.content_type)

    # provider strings end up in Postgres text columns, which cannot hold NUL
    topic = connector.topic(delivery)[:200].replace("\x00", "")
    delivery_id = delivery_id_of(connector, delivery)[:500].replace("\x00", "")
    received_at = datetime.now(timezone.utc)
    ctx = context(target.tenant_id, connector_id, delivery_id, received_at, target.config)
    result = run_normalizer(connector, ctx, topic, delivery, f"{connector_id}:{delivery_id}")
    record = DeliveryRecord(
        id=delivery_row_id(connector_id, delivery_id), receipt_id=new_id(), tenant_id=target.tenant_id,
        connector_id=connector_id, provider=target.provider, delivery_id=delivery_id, topic=topic,
        content_type=content_type, headers=kept_headers(request.headers), body=body, received_at=received_at,
        outcome=result.outcome, error=result.error, event_ids=[e.id for e in result.events],
    )
    published = await app[BATCHER].submit(result.events, result.keys, record)
    duplicate = bool(published) and all(p.duplicate for p in published)
    metrics.WEBHOOKS.labels(target.provider, topic, "duplicate" if duplicate else result.outcome).inc()
    return json_response(WebhookAccepted(delivery=record.id, outcome=result.outcome, events=len(published),
                                         duplicate=duplicate))

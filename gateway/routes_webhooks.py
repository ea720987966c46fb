"""`POST /v1/webhooks/{connector_id}`: verify, dedupe, normalize, publish, answer fast; `GET` answers a provider's
endpoint check (Meta's hub.challenge).

Order of checks: unknown connector 404, declared size over the limit 413 (before reading), content type or
Content-Encoding the provider never sends 415, body read within the body timeout (408) and under the cap (413),
decoded under the cap (413), signature 401, and only for an authentic delivery the per-connector abuse limit 429: an
unsigned flood cannot spend a provider's allowance. A refused request is charged to the connector's failure bucket
(its own limiter, which no authentic delivery consults) and written to the tenant's rejected log; once the bucket is
empty, refused requests are answered 429 and not logged. Handshakes are answered directly. The events and the
delivery record go to Redis through the batcher; Postgres is not on this path except for a connector's first
delivery after the routing cache expired.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import msgspec
from aiohttp import web

from connectors.base import Handshake, Provider, SignatureError, WebhookRequest
from connectors.credentials import webhook_secrets
from connectors.ingest import OTHER, context, delivery_id_of, kept_headers, run_normalizer, topic_label
from connectors.registry import UnknownProvider, get_provider
from events.deliveries import DeliveryRecord
from events.ids import new_id
from gateway import metrics
from gateway.body import check_codings, content_codings, decode, read_raw
from gateway.problems import ProblemError
from gateway.ratelimit import retry_after
from gateway.rejected import Rejection, log_rejection
from gateway.routing import Routes, json_response
from gateway.state import (
    BATCHER,
    CONFIG,
    LOG_TENANT,
    REDIS,
    SECRETS,
    TARGETS,
    WEBHOOK_FAILURE_LIMITER,
    WEBHOOK_LIMITER,
)
from gateway.targets import Target

log = logging.getLogger("bizosaas.gateway.webhooks")
routes = Routes("webhooks")


class WebhookAccepted(msgspec.Struct):
    delivery: str  # the platform's delivery id (GET /v1/deliveries/{id})
    outcome: str  # published | unmapped
    events: int
    duplicate: bool  # a repeat of a delivery already accepted: nothing new was published


async def _verify(
    app: web.Application, target: Target, connector_id: str, provider: Provider, delivery: WebhookRequest
) -> None:
    """The connector's signature check with the current secret (and the previous one during its grace period)."""
    now_s = time.time()
    secrets = webhook_secrets(await app[SECRETS].read(target.tenant_id, connector_id), now_s)
    try:
        if not secrets:
            raise SignatureError("the connector has no webhook secret")
        provider.verify(delivery, secrets, now_s)
    except SignatureError as exc:  # the reason goes to the log only
        log.warning("webhook refused: %s", exc, extra={"tenant_id": target.tenant_id, "connector_id": connector_id})
        raise ProblemError("invalid-signature", "the signature does not verify") from None


async def _refused(
    request: web.Request, target: Target, connector_id: str, provider: Provider, problem: ProblemError
) -> None:
    """Charge a refused request to the failure bucket, and log it while the bucket has room (else answer 429)."""
    app = request.app
    outcome = "bad_signature" if problem.slug == "invalid-signature" else problem.slug.replace("-", "_")
    wait_s = app[WEBHOOK_FAILURE_LIMITER].check(connector_id)
    if wait_s > 0:
        metrics.WEBHOOKS.labels(target.provider, OTHER, "refused_throttled").inc()
        raise ProblemError(
            "rate-limited", "too many refused requests to this endpoint", headers={"Retry-After": retry_after(wait_s)}
        ) from None
    metrics.WEBHOOKS.labels(target.provider, OTHER, outcome).inc()
    rejection = Rejection(
        connector_id=connector_id,
        provider=target.provider,
        status=problem.status,
        reason=problem.detail[:500],
        headers=kept_headers(provider, request.headers),
    )
    try:
        await log_rejection(app[REDIS], target.tenant_id, rejection, app[CONFIG].rejected_log_max)
    except Exception as exc:  # noqa: BLE001 - the log is a diagnostic: the provider still gets the real answer
        log.warning(
            "rejected log not written: %s: %s",
            type(exc).__name__,
            exc,
            extra={"tenant_id": target.tenant_id, "connector_id": connector_id},
        )


def _asked(question, delivery: WebhookRequest, provider: Provider) -> str:
    """A header-like fact of an authentic delivery (topic, id); a provider module's bug must not lose it."""
    try:
        return question(delivery) or ""
    except Exception:
        log.exception("%s of %s failed", question.__name__, provider.provider)
        return ""


@routes.route(
    "POST",
    "/v1/webhooks/{connector_id}",
    permission="public",
    summary="Receive a provider's webhook delivery (authenticated by its signature)",
    response=WebhookAccepted,
    errors=(400, 401, 404, 408, 413, 415, 429),
    request_content_types=("application/json", "application/x-www-form-urlencoded"),
)
async def post_webhook(request: web.Request) -> web.StreamResponse:
    connector_id = request.match_info["connector_id"]
    target = await request.app[TARGETS].get(connector_id)
    if target is None:
        raise ProblemError("not-found", "no such webhook endpoint")
    request[LOG_TENANT] = target.tenant_id
    try:
        provider = get_provider(target.provider)
    except UnknownProvider:
        raise ProblemError("not-found", "this endpoint's provider is not available") from None
    try:
        delivery, handshake = await _authentic(request, target, connector_id, provider)
    except ProblemError as problem:
        await _refused(request, target, connector_id, provider, problem)
        raise
    return await _accept(request, target, connector_id, provider, delivery, handshake)


@routes.route(
    "GET",
    "/v1/webhooks/{connector_id}",
    permission="public",
    summary="Answer a provider's endpoint check (Meta's hub.challenge, against the connector's verify token)",
    response=str,
    response_content_type="text/plain",
    errors=(400, 403, 404, 405, 429),
)
async def get_webhook(request: web.Request) -> web.StreamResponse:
    """A provider that checks the endpoint with a GET (its module has `challenge(query, secrets)`): the answer it
    expects, 403 for a wrong token (charged and logged like a bad signature), 400 for a query that is no check."""
    connector_id = request.match_info["connector_id"]
    target = await request.app[TARGETS].get(connector_id)
    if target is None:
        raise ProblemError("not-found", "no such webhook endpoint")
    request[LOG_TENANT] = target.tenant_id
    try:
        provider = get_provider(target.provider)
    except UnknownProvider:
        raise ProblemError("not-found", "this endpoint's provider is not available") from None
    challenge = getattr(provider, "challenge", None)
    if challenge is None:
        raise ProblemError("method-not-allowed", f"{target.provider} delivers with POST only")
    values = await request.app[SECRETS].read(target.tenant_id, connector_id) or {}
    try:
        answer = challenge(request.query, values)
    except SignatureError as exc:
        log.warning("endpoint check refused: %s", exc, extra={"tenant_id": target.tenant_id})
        problem = ProblemError("forbidden", "the verify token is not this connector's")
        await _refused(request, target, connector_id, provider, problem)
        raise problem from None
    if answer is None:
        raise ProblemError("bad-request", f"not an endpoint check {target.provider} sends")
    metrics.WEBHOOKS.labels(target.provider, OTHER, "handshake").inc()
    return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type)


async def _authentic(
    request: web.Request, target: Target, connector_id: str, provider: Provider
) -> tuple[WebhookRequest, Handshake | None]:
    """The delivery read, decoded and verified (an unsigned handshake is let through: it is never published)."""
    config = request.app[CONFIG]
    cap = config.webhook_max_body_bytes
    if (request.content_length or 0) > cap:
        raise ProblemError("payload-too-large", f"webhook bodies are limited to {cap} bytes")
    content_type = request.content_type if "Content-Type" in request.headers else ""
    if content_type not in provider.content_types:
        raise ProblemError("unsupported-media-type", f"{target.provider} does not send {content_type or 'that'}")
    codings = content_codings(request)
    check_codings(codings, provider.content_encodings, target.provider)
    body = decode(await read_raw(request, cap, config.body_timeout_s), codings, cap)  # senders sign the decoded bytes
    delivery = WebhookRequest(headers=request.headers, body=body, content_type=content_type, url=_delivered_to(request))
    handshake = provider.handshake(delivery)
    if handshake is None or handshake.requires_signature:
        await _verify(request.app, target, connector_id, provider, delivery)
    return delivery, handshake


def _delivered_to(request: web.Request) -> str:
    """The URL the provider was given (routes_connectors answers it as `webhook_url`): the public address the
    deployment is reached at, not the one a proxy forwarded to, with the query it was given. Trello signs it with the
    body; Google Merchant's carries the connector's token (`?hint=`)."""
    base = request.app[CONFIG].public_url.rstrip("/") or str(request.url.origin())
    return base + request.path_qs


@routes.route(
    "HEAD",
    "/v1/webhooks/{connector_id}",
    permission="public",
    summary="Answer a provider's check that the webhook URL exists (Trello sends HEAD before it creates a webhook)",
    errors=(404,),
)
async def head_webhook(request: web.Request) -> web.StreamResponse:
    """200 for a connector's webhook URL, 404 otherwise: what any POST would learn too (no signature is involved,
    nothing is read, published or logged)."""
    if await request.app[TARGETS].get(request.match_info["connector_id"]) is None:
        raise ProblemError("not-found", "no such webhook endpoint")
    return web.Response(status=200)


async def _accept(
    request: web.Request,
    target: Target,
    connector_id: str,
    provider: Provider,
    delivery: WebhookRequest,
    handshake: Handshake | None,
) -> web.StreamResponse:
    app = request.app
    wait_s = app[WEBHOOK_LIMITER].check(connector_id)  # authentic deliveries only
    if wait_s > 0:
        raise ProblemError(
            "rate-limited", "too many deliveries to this endpoint", headers={"Retry-After": retry_after(wait_s)}
        )
    if handshake is not None:
        metrics.WEBHOOKS.labels(target.provider, OTHER, "handshake").inc()
        return web.Response(status=handshake.status, body=handshake.body, content_type=handshake.content_type)

    # provider strings end up in Postgres text columns, which cannot hold NUL
    topic = _asked(provider.topic, delivery, provider)[:200].replace("\x00", "")
    delivery_id = delivery_id_of(provider, delivery)
    received_at = datetime.now(UTC)
    ctx = context(target.tenant_id, connector_id, delivery_id, received_at, target.config)
    result = run_normalizer(provider, ctx, topic, delivery, f"{connector_id}:{delivery_id}")
    delivery_record = DeliveryRecord(
        id=ctx.record_id,
        receipt_id=new_id(),
        tenant_id=target.tenant_id,
        connector_id=connector_id,
        provider=target.provider,
        delivery_id=delivery_id,
        topic=topic,
        content_type=delivery.content_type,
        headers=kept_headers(provider, request.headers),
        body=delivery.body,
        received_at=received_at,
        outcome=result.outcome,
        error=result.error,
        event_ids=[e.id for e in result.events],
    )
    published = await app[BATCHER].submit(result.events, result.keys, delivery_record)
    duplicate = bool(published) and all(p.duplicate for p in published)
    label = topic_label(provider, topic)
    metrics.WEBHOOKS.labels(target.provider, label, "duplicate" if duplicate else result.outcome).inc()
    return json_response(
        WebhookAccepted(delivery=delivery_record.id, outcome=result.outcome, events=len(published), duplicate=duplicate)
    )

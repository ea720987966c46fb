"""From a verified webhook to what gets published: the events (or one `unmapped` event that keeps the delivery
re-runnable), their idempotency keys and the delivery record's id. Shared by the gateway's webhook route and its
delivery retries; pure (no I/O), so a sync or a Temporal activity can run a provider's normalizer the same way."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.base import COMMON_HEADERS, IngestContext, NormalizeError, Provider, WebhookRequest
from events.ids import derived_id
from events.types import Event, Subject, WebhookUnmapped

log = logging.getLogger("bizosaas.connectors.ingest")

OTHER = "other"  # the metrics' topic label for anything but a provider's mapped topics


@dataclass(frozen=True)
class Outcome:
    events: Sequence[Event]
    keys: Sequence[str]
    outcome: str  # published | unmapped
    error: str | None = None


def delivery_id_of(provider: Provider, request: WebhookRequest) -> str:
    """What identifies this delivery's content, the key its events and its record are deduplicated on: the
    provider's delivery id where it names one payload; the id and the body's hash where one id may carry several
    payloads (WooCommerce); the body's hash where the provider sends no id. A resend (same bytes) keeps its key."""
    digest = "sha256:" + hashlib.sha256(request.body).hexdigest()
    # provider strings end up in Postgres text columns, which cannot hold NUL
    given = (provider.delivery_id(request) or "")[:500].replace("\x00", "")
    if not given:
        return digest
    return given if provider.delivery_id_unique else f"{given}:{digest}"


def topic_label(provider: Provider, topic: str) -> str:
    """The topic as a metric label: only values the provider's module declares, so requests cannot add series."""
    return topic if topic in provider.topics else OTHER


def kept_headers(provider: Provider, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a delivery record (or the rejected log) keeps: an allow-list of common ones and the provider's
    declared topic, id and retry headers. Signatures and credentials are never on it."""
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in COMMON_HEADERS or lower in provider.kept_headers:
            kept[lower] = value[:1000].replace("\x00", "")
    return kept


def run_normalizer(
    provider: Provider, ctx: IngestContext, topic: str, request: WebhookRequest, key_prefix: str
) -> Outcome:
    """Normalize; any failure becomes one connector.webhook.unmapped.v1 event carrying the error."""
    try:
        events = list(provider.normalize(ctx, topic, request))
        return Outcome(events, [f"{key_prefix}:{i}" for i in range(len(events))], "published")
    except NormalizeError as exc:
        error = str(exc)
    except Exception as exc:
        log.exception(
            "normalizer of %s failed on topic %s",
            provider.provider,
            topic,
            extra={"tenant_id": ctx.tenant_id, "connector_id": ctx.connector_id},
        )
        error = f"normalizer error: {type(exc).__name__}: {exc}"
    error = error.replace("\x00", "")  # it may quote the payload; Postgres text cannot hold NUL
    key = f"{key_prefix}:unmapped"
    received_ms = int(ctx.received_at.timestamp() * 1000)
    unmapped = WebhookUnmapped(
        id=derived_id(key, received_ms),
        tenant_id=ctx.tenant_id,
        source=ctx.connector_id,
        provider=provider.provider,
        subject=Subject(kind="delivery", external_id=ctx.delivery_id),
        occurred_at=ctx.received_at,
        recorded_at=ctx.received_at,
        raw_ref=ctx.record_id,
        topic=topic[:200],
        error=error[:2000],
    )
    return Outcome([unmapped], [key], "unmapped", error[:2000])


def context(
    tenant_id: str, connector_id: str, delivery_id: str, received_at: datetime, config: Mapping
) -> IngestContext:
    return IngestContext(
        tenant_id=tenant_id,
        connector_id=connector_id,
        delivery_id=delivery_id,
        received_at=received_at,
        config=dict(config),
    )

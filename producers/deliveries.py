"""Webhook delivery records: what the gateway accepted, written onto `bz:deliveries` in the same batch as the
events it published, and persisted by the `deliveries` consumer group. The provider never waits for Postgres, and a
record is as durable as the events (both are in Redis before the provider is answered)."""

from __future__ import annotations

import msgspec

from events.codec import EVENT_FIELD, EventDecodeError
from events.streams import DELIVERIES_STREAM
from events.types import UtcTime

__all__ = ["DELIVERIES_STREAM", "DeliveryRecord", "decode_record", "record_fields"]


class DeliveryRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the platform's id of the delivery: derived from (connector, provider delivery id)
    receipt_id: str  # unique per HTTP request: a provider's resend is another receipt of the same delivery
    tenant_id: str
    connector_id: str
    provider: str
    delivery_id: str
    topic: str = ""
    content_type: str = ""
    headers: dict[str, str] = {}  # without credentials and signatures
    body: bytes = b""
    received_at: UtcTime
    outcome: str  # published | unmapped | handshake
    error: str | None = None
    event_ids: list[str] = []


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(DeliveryRecord)


def record_fields(record: DeliveryRecord) -> dict[bytes, bytes]:
    return {EVENT_FIELD: _encoder.encode(record)}


def decode_record(raw: bytes) -> DeliveryRecord:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"delivery record: {exc}") from None

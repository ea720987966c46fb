"""The webhook delivery record: the message on `bz:deliveries` (events.streams.DELIVERIES_STREAM), written by the
gateway in the same batch as the events it published and read by the `deliveries` consumer group, which persists
it. A wire type shared by both sides, so it lives with the other stream messages; producers/deliveries.py writes it.

msgpack, not JSON: the record carries the delivery's raw body as bytes.
"""

from __future__ import annotations

import msgspec

from events.codec import EventDecodeError
from events.entities import UtcTime


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


def encode_record(record: DeliveryRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(raw: bytes) -> DeliveryRecord:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"delivery record: {exc}") from None

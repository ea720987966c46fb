"""Writing webhook delivery records (events.deliveries.DeliveryRecord) onto `bz:deliveries`: the entry's fields, in
the same batch as the events the gateway published, persisted by the `deliveries` consumer group. The provider never
waits for Postgres, and a record is as durable as the events (both are in Redis before the provider is answered)."""

from __future__ import annotations

from events.codec import EVENT_FIELD
from events.deliveries import DeliveryRecord, encode_record


def record_fields(record: DeliveryRecord) -> dict[bytes, bytes]:
    """The stream entry of one record (field `e`, as for events), for XADD onto DELIVERIES_STREAM."""
    return {EVENT_FIELD: encode_record(record)}

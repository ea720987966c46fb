"""The bounded log of refused webhook requests (bad signature, size, encoding, timeout), as Hookdeck and Svix show
rejected requests: one capped Redis stream per tenant, listed by `GET /v1/deliveries?outcome=rejected`.

An entry holds the reason, the status answered, the time, the connector and the allow-listed headers (no secret,
no signature: connectors.ingest.kept_headers), never the body. The stream keeps about `max_len` entries and expires
when a tenant's connectors have refused nothing for 30 days, so neither a flood nor a dead tenant grows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from events.streams import rejected_stream

TTL_S = 30 * 24 * 3600
_encode = msgspec.json.Encoder().encode


class Rejection(msgspec.Struct, frozen=True):
    connector_id: str
    provider: str
    status: int  # the HTTP status answered
    reason: str  # the problem's detail (for a bad signature: that it does not verify, never why)
    headers: dict[str, str]


@dataclass(frozen=True)
class Rejected:
    entry_id: str  # the stream id: its time and the listing's cursor
    received_at: datetime
    rejection: Rejection


async def log_rejection(redis: Redis, tenant_id: str, rejection: Rejection, max_len: int) -> None:
    key = rejected_stream(tenant_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(key, {b"r": _encode(rejection)}, maxlen=max_len, approximate=True)
        pipe.expire(key, TTL_S)
        await pipe.execute()


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


async def newest(
    redis: Redis,
    tenant_id: str,
    limit: int,
    before: str | None = None,
    connector_id: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[Rejected]:
    """Up to `limit` entries, newest first, older than the entry `before` (a cursor) and within [since, until)."""
    high = f"({before}" if before else (f"({until_ms}-0" if until_ms is not None else "+")
    low = f"{since_ms}-0" if since_ms is not None else "-"
    found: list[Rejected] = []
    while len(found) < limit:
        entries = await redis.xrevrange(rejected_stream(tenant_id), high, low, count=max(limit, 100))
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            if until_ms is not None and _entry_ms(entry_id) >= until_ms:
                continue
            rejection = msgspec.json.decode(fields[b"r"], type=Rejection)
            if connector_id is None or rejection.connector_id == connector_id:
                received_at = datetime.fromtimestamp(_entry_ms(entry_id) / 1000, UTC)
                found.append(Rejected(entry_id, received_at, rejection))
                if len(found) == limit:
                    break
        if len(entries) < max(limit, 100):
            break
        high = f"({entries[-1][0].decode()}"
    return found

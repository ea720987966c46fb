"""Every Redis key the platform uses, in one place, and how a tenant maps to its partition.

Keys carry Redis Cluster hash tags (the literal braces) so that a partition's stream and its idempotency keys live on
one shard while partitions spread over the cluster.
"""

from __future__ import annotations

import zlib

DEFAULT_PARTITIONS = 8

# bz:events:{p} - the event log partition p (one tenant always maps to the same partition, so its order holds)
EVENTS_STREAM = "bz:events:{%d}"
# bz:commands - commands from the gateway to the command runner group
COMMANDS_STREAM = "bz:commands"
# bz:deliveries - the gateway's record of every webhook delivery it accepted (body included), for the deliveries group
DELIVERIES_STREAM = "bz:deliveries"
# bz:dead:{group} - entries a group gave up on, copied whole with the error; never trimmed automatically
DEAD_STREAM = "bz:dead:{%s}"
# bz:replay:{group} - entries re-delivered to one group only (replay and dead-letter redrive)
REPLAY_STREAM = "bz:replay:{%s}"
# bz:idem:{p}:<key> - publish idempotency key, same hash tag as its partition so SET NX + XADD is one script
IDEMPOTENCY_KEY = "bz:idem:{%d}:%s"
# bz:idem:{commands}:<key> - idempotency key of a command
COMMAND_IDEMPOTENCY_KEY = "bz:idem:{commands}:%s"
# bz:lasterr:{group} - hash entry id -> last handler error, so whoever dead-letters the entry can attach it
LAST_ERROR_HASH = "bz:lasterr:{%s}"
# bz:rejected:{tenant} - a tenant's refused webhook requests (reason, allow-listed headers, no body), capped
REJECTED_STREAM = "bz:rejected:{%s}"
# bz:session:<sha256 of the cookie> - a portal or console session (who signed in, its CSRF token); expires by itself
SESSION_KEY = "bz:session:%s"
# bz:oidc:<sha256 of the state> - a portal OIDC sign-in under way (its PKCE verifier and nonce); used once, expires
OIDC_STATE_KEY = "bz:oidc:%s"

# bz:gateway:invalidate - pub/sub channel: a revoked API key or a changed connector, for every gateway process's caches
GATEWAY_INVALIDATION_CHANNEL = "bz:gateway:invalidate"
# bz:gateway:ack:<nonce> - list each process pushes to once it applied that invalidation (the sender waits for all)
GATEWAY_INVALIDATION_ACK = "bz:gateway:ack:%s"

# fields added to an entry copied onto a replay stream: where the event was first published (its ordering position)
ORIGIN_STREAM_FIELD = b"origin"
ORIGIN_ID_FIELD = b"origin_id"

DEDUPE_WINDOW_S = 72 * 3600  # Stripe retries deliveries for up to three days


def partition_of(tenant_id: str, partitions: int = DEFAULT_PARTITIONS) -> int:
    """crc32 of the tenant id (UTF-8) modulo N: stable across processes and languages."""
    return zlib.crc32(tenant_id.encode()) % partitions


def events_stream(partition: int) -> str:
    return EVENTS_STREAM % partition


def stream_for_tenant(tenant_id: str, partitions: int = DEFAULT_PARTITIONS) -> str:
    return events_stream(partition_of(tenant_id, partitions))


def all_event_streams(partitions: int = DEFAULT_PARTITIONS) -> list[str]:
    return [events_stream(p) for p in range(partitions)]


def dead_stream(group: str) -> str:
    return DEAD_STREAM % group


def replay_stream(group: str) -> str:
    return REPLAY_STREAM % group


def rejected_stream(tenant_id: str) -> str:
    return REJECTED_STREAM % tenant_id


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id '1700000000000-3' as (ms, seq), comparable as a tuple."""
    ms, _, seq = as_text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def format_id(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

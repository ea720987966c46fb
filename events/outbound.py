"""Outbound webhooks' wire facts, read by the gateway (subscriptions, samples) and the outbound group: which
published event types a subscription matches, and the payload a receiver gets.

A subscription names published event types exactly (`commerce.order.upserted.v2`) or by a pattern that ends in
`.*` and stands for every type under that prefix (`commerce.order.*`, `commerce.*`); `*` alone is every type. Only
current event types are offered: legacy ones are upcast before anyone sees them, and commands are not events.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.types import EVENT_TYPES, Event

PUBLISHED: tuple[str, ...] = tuple(sorted(t.__struct_config__.tag for t in EVENT_TYPES))
WILDCARD = "*"


def matches(pattern: str, event_type: str) -> bool:
    if pattern == WILDCARD:
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])  # the prefix keeps its dot: `commerce.*` never matches `commercex`
    return pattern == event_type


def matches_any(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(p, event_type) for p in patterns)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be subscribed to (None when it matches at least one published type)."""
    if any(matches(pattern, t) for t in PUBLISHED):
        return None
    if "*" in pattern.removesuffix(".*"):
        return f"{pattern!r}: a wildcard may only end a pattern (`domain.kind.*`)"
    return f"{pattern!r} matches no published event type (GET /v1/hooks/event-types lists them)"


class Payload(msgspec.Struct):
    """Standard Webhooks' recommended shape: the event's type, when it occurred, and the event as published."""

    type: str
    timestamp: str  # RFC 3339 UTC
    data: Event


_encoder = msgspec.json.Encoder()


def payload(event: Event) -> bytes:
    """The body a receiver gets for `event` (stored with the attempt, so every retry signs the same bytes)."""
    timestamp = event.occurred_at.isoformat().replace("+00:00", "Z")
    return _encoder.encode(Payload(event.type, timestamp, event))

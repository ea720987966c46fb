"""The ordering rule, in one place: of the states of one entity, the newest is the one with the greatest (provider
time, stream position). A delete is a state like any other (a tombstone). The projector, a projection rebuild and the
indexer all pick the newest state per entity of a batch with `newest_per_entity`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from events.types import EntityDeleted, EntityUpserted, Event

Position = tuple[int, int]  # a stream entry id (milliseconds, sequence) at the entry's origin stream
EntityKey = tuple[str, str, str, str]  # tenant, kind, source, external id

Item = TypeVar("Item", bound=tuple)


def entity_key(event: Event) -> EntityKey:
    return event.tenant_id, event.subject.kind, event.source, event.subject.external_id


def newest_per_entity(items: Iterable[Item]) -> list[Item]:
    """Per entity, the item with the newest state among these `(event, position, *anything)` items, by (provider time,
    stream position); events that are no entity state are skipped. Sorted by entity key, so that concurrent
    transactions lock rows in one order (no deadlocks)."""
    newest: dict[EntityKey, Item] = {}
    for item in items:
        event, position = item[0], item[1]
        if not isinstance(event, (EntityUpserted, EntityDeleted)):
            continue
        key = entity_key(event)
        held = newest.get(key)
        if held is None or (event.occurred_at, position) > (held[0].occurred_at, held[1]):
            newest[key] = item
    return [newest[key] for key in sorted(newest)]

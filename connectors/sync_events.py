"""The events a sync run publishes besides its objects' own: connector.sync.started/completed/failed, and the
`...deleted` events of a full run's reconciliation. Their ids derive from their idempotency keys, so a step that is
run again publishes the same event, which the publisher drops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.sync_pages import Target, sync_key
from events.ids import derived_id
from events.types import DELETED_BY_KIND, Event, Subject


def lifecycle_event(cls: type[Event], target: Target, provider: str, now: datetime, key: str, **fields: Any) -> Event:
    """A connector.sync.* event of the run (`fields`: the type's own: run_id, full, counts, error ...)."""
    return cls(
        id=derived_id(key, int(now.timestamp() * 1000)),
        tenant_id=target.tenant_id,
        source=target.connector_id,
        provider=provider,
        subject=Subject(kind="connector", external_id=target.connector_id),
        occurred_at=now,
        recorded_at=now,
        resource=target.resource,
        **fields,
    )


def deleted_events(
    target: Target, provider: str, kind: str, run_id: str, gone: list[str], now: datetime
) -> tuple[list[Event], list[str]]:
    """One `...deleted` event per record a full run did not list, with its idempotency key."""
    events: list[Event] = []
    keys: list[str] = []
    for external_id in gone:
        key = sync_key(target, run_id, "deleted", external_id)
        events.append(
            DELETED_BY_KIND[kind](
                id=derived_id(key, int(now.timestamp() * 1000)),
                tenant_id=target.tenant_id,
                source=target.connector_id,
                provider=provider,
                subject=Subject(kind=kind, external_id=external_id),
                occurred_at=now,
                recorded_at=now,
            )
        )
        keys.append(key)
    return events, keys

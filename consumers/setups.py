"""The `connector_setups` projection: each connector's set-up as its owner sees it (`GET /v1/connectors/{id}`'s
health), from the set-up workflow's events: connector.connect.started (`connecting`), connector.connect.failed
(`failed`, the step and what to fix) and connector.connected (`connected`, the webhooks it registered or why none),
and at the end connector.disconnected (`disconnected`, the steps not done at the provider and why, if any).

One row per connector; an event older than the row's (provider time = the activity's clock) changes nothing, so a
replay or a rebuild ends in the same row, and a new attempt (a later `started`) replaces an old outcome.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from events.types import ConnectFailed, ConnectorConnected, ConnectorDisconnected, ConnectStarted, Event

SETUP_SQL = """
INSERT INTO connector_setups AS s (tenant_id, connector_id, status, step, reason, webhooks, at)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, connector_id) DO UPDATE SET status = excluded.status, step = excluded.step,
  reason = excluded.reason, webhooks = excluded.webhooks, at = excluded.at
WHERE excluded.at >= s.at
"""


def setup_row(event: Event) -> tuple | None:
    """(connector, status, step, reason, webhooks, at) of a set-up event; None for any other event."""
    if isinstance(event, ConnectStarted):
        return event.source, "connecting", None, None, 0, event.occurred_at
    if isinstance(event, ConnectFailed):
        return event.source, "failed", event.step or None, event.reason, 0, event.occurred_at
    if isinstance(event, ConnectorConnected):
        return event.source, "connected", None, event.note or None, event.webhooks, event.occurred_at
    if isinstance(event, ConnectorDisconnected):
        return event.source, "disconnected", event.step or None, event.reason or None, 0, event.occurred_at
    return None


async def project_setups(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    """The set-up events among these (one tenant's, its row-level-security tenant set), in stream order."""
    for event in events:
        row = setup_row(event)
        if row is not None:
            await conn.execute(SETUP_SQL, *row)

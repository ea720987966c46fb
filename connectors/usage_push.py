"""The platform's own billing: each billed tenant's exact usage (`usage_counts`, filled by the metrics group) pushed
to Lago as usage events, through the Lago connector the deployment names (BIZOSAAS_BILLING_CONNECTOR, a connector of
the operator's own tenant). The Temporal Schedule `usage-push` runs it (connectors/temporal/).

- **Who is billed, to what**: `billing_accounts` (tenant -> Lago `external_subscription_id`, `billed_from`).
  `billed_tenants()` (a SECURITY DEFINER lookup, like webhook_target) answers the tenant ids and nothing else; every
  read and write after it is under that tenant's row-level security.
- **What is sent**: each `usage_counts` row of a closed day (before today, UTC) from `billed_from` on that has no
  `usage_pushes` row yet becomes one Lago event (`lago.api.usage_event`: code `platform_events`, properties
  `events`, `event_type`, `provider`, the day's last second as its time), whose `transaction_id` is derived from
  tenant, day, event type and provider.
- **Once**: the `usage_pushes` row is written after Lago recorded the event. A push that dies between the two sends
  the event again next time; Lago refuses the known transaction id and `record_usage` answers the event already
  recorded, so a retried push never bills twice. A day's row that grows after it was pushed (an event with an old
  `occurred_at` arriving late) is not sent again: `usage_pushes.events` keeps what was billed beside the count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from connectors import sync_deps
from db.pool import tenant_transaction
from events.errors import PermanentError

log = logging.getLogger("bizosaas.connectors.usage_push")

UNPUSHED = """
SELECT u.day, u.event_type, u.provider, u.events FROM usage_counts u
WHERE u.day >= $1 AND u.day < $2 AND u.events > 0
  AND NOT EXISTS (SELECT 1 FROM usage_pushes p WHERE p.day = u.day AND p.event_type = u.event_type
                                                  AND p.provider = u.provider)
ORDER BY u.day, u.event_type, u.provider
"""
RECORD = """
INSERT INTO usage_pushes (tenant_id, day, event_type, provider, events, transaction_id, lago_id)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class Pushed:
    tenants: int  # billed tenants visited
    events: int  # usage events Lago recorded in this push


async def billing_target(deps: sync_deps.SyncDeps, connector_id: str) -> str:
    """The tenant of the billing connector (an active Lago connector), by its id alone."""
    if not connector_id:
        raise PermanentError("no billing connector: set BIZOSAAS_BILLING_CONNECTOR to the platform's Lago connector")
    row = await deps.pool.fetchrow("SELECT tenant_id, provider FROM webhook_target($1)", connector_id)
    if row is None or row["provider"] != "lago":
        raise PermanentError(
            f"BIZOSAAS_BILLING_CONNECTOR={connector_id}: no active Lago connector has this id "
            f"({'provider ' + row['provider'] if row else 'not found or disconnected'})"
        )
    return row["tenant_id"]


async def push_usage(
    deps: sync_deps.SyncDeps, connector_id: str, today: date | None = None, progress: Callable[[], None] = lambda: None
) -> Pushed:
    """Push every billed tenant's closed, unpushed days to Lago through the connector `connector_id`."""
    today = today or datetime.now(UTC).date()
    billing_tenant = await billing_target(deps, connector_id)
    api, call = await sync_deps.api_call(deps, billing_tenant, connector_id)
    tenants = [r["tenant_id"] for r in await deps.pool.fetch("SELECT tenant_id FROM billed_tenants()")]
    sent = 0
    for tenant in tenants:
        async with tenant_transaction(deps.pool, tenant) as conn:
            account = await conn.fetchrow("SELECT lago_subscription_id, billed_from FROM billing_accounts")
            rows = await conn.fetch(UNPUSHED, account["billed_from"], today) if account else []
        for row in rows:
            event = api.usage_event(
                tenant, row["day"], row["event_type"], row["provider"], row["events"], account["lago_subscription_id"]
            )
            recorded = await api.record_usage(call, **event)
            async with tenant_transaction(deps.pool, tenant) as conn:
                await conn.execute(
                    RECORD,
                    row["day"],
                    row["event_type"],
                    row["provider"],
                    row["events"],
                    event["transaction_id"],
                    str(recorded["id"]),
                )
            sent += 1
            progress()
        if rows:
            log.info("usage push: %d usage events of tenant %s recorded in Lago", len(rows), tenant)
    return Pushed(len(tenants), sent)

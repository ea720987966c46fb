"""The `notifications` group: a provider that names a changed record without sending it (Zoho CRM's notifications:
`connector.change.notified.v1`) gets that resource synced soon. Each batch asks once per connector x resource for a
"sync now" (connectors/temporal/client.py `start_sync`: signal-with-start of `sync:{connector}:{resource}`), which the
sync workflow coalesces with a run in progress: ten notifications cost at most one more run. Asked before the batch
is acknowledged (a failure redelivers it); a redelivered batch only asks again, which is harmless. No transaction:
the group writes nothing (the sync's own events say what it read)."""

from __future__ import annotations

from typing import Any

from connectors.registry import get_facts
from connectors.temporal.client import start_sync, temporal_client
from consumers.group import Batch, Group
from events.streams import all_event_streams
from events.types import ChangeNotified

GROUP = "notifications"


def notifications_group(partitions: int, temporal: Any) -> Group:
    """`temporal`: a temporalio Client or a LazyTemporal (None: matching batches wait, transient, for one)."""

    async def request_syncs(batch: Batch) -> None:
        wanted = sorted(
            {
                (e.message.tenant_id, e.message.source, e.message.resource)
                for e in batch.entries
                if isinstance(e.message, ChangeNotified)
                and e.message.resource in {r.name for r in get_facts(e.message.provider).resources}
            }
        )
        if wanted:
            client = await temporal_client(temporal)
            for tenant, connector, resource in wanted:
                await start_sync(client, tenant, connector, resource)

    return Group(
        GROUP, all_event_streams(partitions), types=[ChangeNotified.__struct_config__.tag], prepare=request_syncs
    )

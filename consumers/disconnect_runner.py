"""The runner of `connector.disconnect.v1` (registered in consumers/commands.py's RUNNERS): the connector's schedule
removed, its set-up and syncs stopped, ConnectorDisconnect run at the provider, then the runs it left open closed and
connector.disconnected published, or with `erase` everything that came from it erased.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors import sync
from connectors.registry import get_facts
from connectors.sync_deps import SyncDeps
from connectors.temporal.client import delete_schedule, disconnect_at_provider, stop_workflows, temporal_client
from connectors.temporal.shared import DisconnectInput, DisconnectResult
from db.erasure import erase_source_rows, record_erasure
from db.pool import tenant_transaction
from events.commands import DisconnectConnector
from events.errors import PermanentError
from events.ids import derived_id
from events.types import ConnectorDisconnected, Subject
from producers.erasure import SourceEntries, erase_entries
from producers.publisher import Publisher

if TYPE_CHECKING:
    from consumers.commands import RunnerContext


async def run_disconnect(command: DisconnectConnector, ctx: RunnerContext) -> str:
    """The gateway marked the connector `disconnected` (webhooks refused, syncs refused by the activities) and
    destroyed its secrets unless a step here needs them. Here: remove its schedule, stop the set-up and every sync in
    progress, run ConnectorDisconnect (unregister its webhooks and revoke its OAuth2 grant at the provider, then
    destroy every version of its secrets), then close the runs they left open (a sync.failed event each) and say
    how the connector ended (connector.disconnected, its set-up's last state), or with `erase` erase what came from
    it (db/erasure.py and producers/erasure.py, Postgres before and after Redis as `bizosaas tenant erase` does; an
    `erasures` row). Each step is idempotent: a redelivered command does it again harmlessly."""
    async with tenant_transaction(ctx.pool, command.tenant_id) as conn:
        row = await conn.fetchrow("SELECT provider, status FROM connectors WHERE id = $1", command.connector_id)
    if row is not None and row["status"] != "disconnected":
        raise PermanentError(f"connector {command.connector_id} is {row['status']}, not disconnected")
    facts = get_facts(row["provider"]) if row is not None else None
    client = await temporal_client(ctx.temporal)
    done = ["schedule removed" if await delete_schedule(client, command.connector_id) else "no schedule"]
    async with tenant_transaction(ctx.pool, command.tenant_id) as conn:
        await conn.execute("DELETE FROM connector_schedules WHERE connector_id = $1", command.connector_id)
    resources = [r.name for r in facts.resources] if facts is not None else []
    stopped = await stop_workflows(client, command.connector_id, resources)
    done.append(f"stopped {', '.join(stopped)}" if stopped else "no set-up or sync in progress")
    if row is None:  # erased by an earlier delivery: its secrets went before
        return "; ".join(done)
    at_provider = await disconnect_at_provider(
        client, command.id, DisconnectInput(command.tenant_id, command.connector_id)
    )
    done += at_provider.done
    if command.erase:
        erasure_id, counts = await erase_connector(ctx, command)
        done.append(f"erased {sum(counts.values())} rows and entries ({erasure_id})")
        return "; ".join(done)
    closed = await close_open_runs(ctx, command.tenant_id, command.connector_id, row["provider"])
    if closed:
        done.append(f"closed {closed} run(s) in progress as failed")
    await publish_disconnected(ctx, command, row["provider"], at_provider)
    return "; ".join(done)


async def publish_disconnected(
    ctx: RunnerContext, command: DisconnectConnector, provider: str, at_provider: DisconnectResult
) -> None:
    """connector.disconnected: the connector's set-up ends `disconnected` (health.setup, consumers/setups.py), with
    the steps not done at the provider and what to do about them (a set-up the disconnect stopped no longer shows
    `connecting`). Not after an erase: nothing about the connector is kept then."""
    now = datetime.now(UTC)
    event = ConnectorDisconnected(
        id=derived_id(f"disconnect:{command.id}", int(now.timestamp() * 1000)),
        tenant_id=command.tenant_id,
        source=command.connector_id,
        provider=provider,
        subject=Subject(kind="connector", external_id=command.connector_id),
        occurred_at=now,
        recorded_at=now,
        step=",".join(at_provider.failed),
        reason="; ".join(at_provider.problems),
    )
    await Publisher(ctx.redis, ctx.partitions).publish([event], [f"disconnect:{command.id}"])


async def close_open_runs(ctx: RunnerContext, tenant_id: str, connector_id: str, provider: str) -> int:
    """A run its workflow was stopped in leaves `running` in the sync history: publish its connector.sync.failed
    (the same event a run that gives up publishes) and drop its position."""
    async with tenant_transaction(ctx.pool, tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT resource, run_id FROM sync_checkpoints WHERE connector_id = $1 AND run_id IS NOT NULL",
            connector_id,
        )
    deps = SyncDeps(ctx.pool, Publisher(ctx.redis, ctx.partitions), secrets=None)  # type: ignore[arg-type]
    for r in rows:
        target = sync.Target(tenant_id, connector_id, r["resource"])
        await sync.fail(deps, target, r["run_id"], "ConnectorDisconnected: the connector was disconnected", False)
    return len(rows)


async def erase_connector(ctx: RunnerContext, command: DisconnectConnector) -> tuple[str, dict[str, int]]:
    started = datetime.now(UTC)
    counts: dict[str, int] = {}

    def add(more: dict[str, int]) -> None:
        for place, n in more.items():
            if n:
                counts[place] = counts.get(place, 0) + n

    add(await erase_source_rows(ctx.pool, command.tenant_id, command.connector_id))
    add(await erase_entries(ctx.redis, command.tenant_id, ctx.partitions, SourceEntries(command.connector_id)))
    add(await erase_source_rows(ctx.pool, command.tenant_id, command.connector_id))
    erasure_id = await record_erasure(
        ctx.pool, command.tenant_id, "connector", "connector", command.issued_by or "api", started, counts
    )
    return erasure_id, counts

"""The set-up workflow's own activities (connectors/temporal/workflows.py, ConnectWorkflow): publish its outcome for
the connector's owner, and register the connector's webhooks at the provider (connectors/webhook_setup.py); and the
schedule's renewal of webhooks that expire (ScheduledSyncWorkflow).

The outcome is an event (connector.connect.started / connector.connect.failed / connector.connected), projected into
`connector_setups` and shown by `GET /v1/connectors/{id}`; its idempotency key names the workflow run, so a retried
activity publishes it once and a later set-up of the same connector publishes anew.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import activity

from connectors import sync_deps, webhook_setup
from connectors.temporal.activities import classified
from connectors.temporal.shared import ConnectorRef, SetupOutcome, WebhooksResult
from db.pool import tenant_transaction
from events.ids import derived_id
from events.types import ConnectFailed, ConnectorConnected, ConnectStarted, Event, Subject


class SetupActivities:
    def __init__(self, deps: sync_deps.SyncDeps, public_url: str = "") -> None:
        self.deps = deps
        self.public_url = public_url  # BIZOSAAS_PUBLIC_URL: where providers deliver webhooks ("" : not registered)

    def all(self) -> list[Callable]:
        return [self.outcome, self.register_webhooks, self.renew_webhooks]

    @activity.defn(name="connector.setup_outcome")
    @classified
    async def outcome(self, input: SetupOutcome) -> None:
        async with tenant_transaction(self.deps.pool, input.tenant_id) as conn:
            row = await conn.fetchrow("SELECT provider, config FROM connectors WHERE id = $1", input.connector_id)
        provider = row["provider"] if row else ""
        raw = row["config"] if row else None
        config = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        now = datetime.now(UTC)
        key = f"connect:{input.connector_id}:{input.attempt}:{input.status}"
        common = dict(
            id=derived_id(key, int(now.timestamp() * 1000)),
            tenant_id=input.tenant_id,
            source=input.connector_id,
            provider=provider,
            subject=Subject(kind="connector", external_id=input.connector_id),
            occurred_at=now,
            recorded_at=now,
        )
        event: Event
        if input.status == "connecting":
            event = ConnectStarted(**common)
        elif input.status == "failed":
            event = ConnectFailed(**common, step=input.step, reason=input.reason[:2000])
        else:
            event = ConnectorConnected(**common, config=config, webhooks=input.webhooks, note=input.reason)
        await self.deps.publisher.publish([event], [key])

    @activity.defn(name="connector.register_webhooks")
    @classified
    async def register_webhooks(self, input: ConnectorRef) -> WebhooksResult:
        registered = await webhook_setup.register(self.deps, self.public_url, input.tenant_id, input.connector_id)
        return WebhooksResult(registered.webhooks, registered.note)

    @activity.defn(name="connector.renew_webhooks")
    @classified
    async def renew_webhooks(self, input: ConnectorRef) -> WebhooksResult:
        """A schedule's tick: webhooks registered again where the api asks it (connectors/webhook_setup.py `renew`)."""
        renewed = await webhook_setup.renew(self.deps, self.public_url, input.tenant_id, input.connector_id)
        return WebhooksResult(renewed.webhooks, renewed.note)

"""The disconnect's activities (connectors/temporal/workflows.py, ConnectorDisconnect): what a disconnect does at the
provider with the connector's credentials, then their destruction. The `connector.disconnect.v1` runner
(consumers/commands.py) runs the workflow after stopping the connector's schedule and workflows.

- `connector.unregister_webhooks`: the webhooks the set-up registered (connectors/webhook_setup.py), deleted.
- `connector.revoke`: the OAuth2 grant the platform obtained, revoked where the provider's facts say how
  (`auth.revoke`: Zoho CRM's refresh token, Shopify's app install); connectors/oauth_tokens.py `revoke`.
- `connector.destroy_secrets`: every version of the connector's secrets in Vault, and the webhook ids.

Each is idempotent (a webhook already gone counts as deleted, a token already invalid as revoked, nothing stored as
destroyed), reads what it needs by id, and answers what it did in words: no secret reaches the workflow's history.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from connectors import oauth, sync_deps, webhook_setup
from connectors.registry import get_facts
from connectors.temporal.activities import classified
from connectors.temporal.shared import DisconnectInput
from db.pool import tenant_transaction


class DisconnectActivities:
    def __init__(self, deps: sync_deps.SyncDeps) -> None:
        self.deps = deps

    def all(self) -> list[Callable]:
        return [self.unregister_webhooks, self.revoke, self.destroy_secrets]

    async def _provider(self, input: DisconnectInput) -> str | None:
        async with tenant_transaction(self.deps.pool, input.tenant_id) as conn:
            return await conn.fetchval("SELECT provider FROM connectors WHERE id = $1", input.connector_id)

    @activity.defn(name="connector.unregister_webhooks")
    @classified
    async def unregister_webhooks(self, input: DisconnectInput) -> str:
        ids = await webhook_setup.registered(self.deps.pool, input.tenant_id, input.connector_id)
        provider = await self._provider(input)
        if not ids or provider is None:
            return "no webhooks registered by the set-up"
        await webhook_setup.unregister(
            self.deps.pool,
            self.deps.secrets,
            self.deps.allow_private,
            input.tenant_id,
            input.connector_id,
            provider,
            ids,
        )
        return f"unregistered {len(ids)} webhook(s) at the provider"

    @activity.defn(name="connector.revoke")
    @classified
    async def revoke(self, input: DisconnectInput) -> str:
        provider = await self._provider(input)
        if provider is None:
            return "no OAuth2 grant to revoke"
        values = await self.deps.secrets.read(input.tenant_id, input.connector_id, fresh=True)
        return await oauth.revoke(get_facts(provider), values, self.deps.allow_private)

    @activity.defn(name="connector.destroy_secrets")
    @classified
    async def destroy_secrets(self, input: DisconnectInput) -> str:
        await self.deps.secrets.delete(input.tenant_id, input.connector_id)  # KV v2 metadata and every version
        await webhook_setup.forget(self.deps.pool, input.tenant_id, input.connector_id)
        return "secrets destroyed"

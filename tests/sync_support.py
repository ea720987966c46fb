"""What the connectors/sync.py tests (tests/test_sync_*.py) share: the OAuth tokens a connector holds, a tenant's
connector row and its secrets in Vault (the sync's deps), the events a sync published to the tenant's stream, and the
records the projector made of them."""

from __future__ import annotations

import json
import time
from typing import Any

from connectors import oauth, sync
from connectors.credentials import VaultSecrets
from events import codec
from events.streams import DEFAULT_PARTITIONS, stream_for_tenant
from producers.publisher import Publisher


def access_tokens(server: Any, token: str | None = None) -> dict[str, Any]:
    """An access token of the local provider `server` (a new one unless `token`), valid for another hour: what a
    connector's secrets hold for the api to call with."""
    return {oauth.ACCESS_TOKEN: token or server.issue_access(), oauth.EXPIRES_AT: time.time() + 3600}


def oauth_secrets(server: Any, token_url: str) -> dict[str, Any]:
    """What a connector keeps in Vault once authorized at the local provider `server` (its `oauth`, a
    tests/oauth_server.py OAuthServer): the client, an access token valid for an hour, a refresh token for
    `token_url`."""
    refresh = {oauth.REFRESH_TOKEN: server.oauth.issue_refresh(), oauth.TOKEN_URL: token_url}
    return {"client_id": server.client_id, "client_secret": server.client_secret, **access_tokens(server), **refresh}


async def add_connector(
    admin, tenant: str, connector: str, provider: str, config: dict[str, Any], webhooks_by_setup: bool = False
) -> None:
    """The tenant (unless it exists) and a connector of it (named after its provider), as the set-up stores them;
    `webhooks_by_setup`: made without a webhook secret, its set-up registers the webhooks."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config, webhooks_by_setup)"
        " VALUES ($1, $2, $3, $3, $4, $5)",
        tenant,
        connector,
        provider,
        json.dumps(config),
        webhooks_by_setup,
    )


async def sync_deps(
    pool,
    redis,
    vault,
    admin,
    target: sync.Target,
    provider: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
) -> sync.SyncDeps:
    """The target's connector with `secrets` in Vault, no checkpoint or seen set left from an earlier test, and the
    sync's deps."""
    await add_connector(admin, target.tenant_id, target.connector_id, provider, config)
    await admin.execute("TRUNCATE sync_checkpoints, sync_seen")
    vault_secrets = VaultSecrets(vault.addr, vault.token)
    await vault_secrets.write(target.tenant_id, target.connector_id, secrets)
    return sync.SyncDeps(pool, Publisher(redis), vault_secrets, allow_private=True)


async def published(redis, tenant: str) -> list:
    """Every event on the tenant's stream, decoded, oldest first."""
    entries = await redis.xrange(stream_for_tenant(tenant, DEFAULT_PARTITIONS))
    return [codec.decode_event(fields[codec.EVENT_FIELD]) for _, fields in entries]


async def deleted_by_id(admin, tenant: str, kind: str, source: str | None = None) -> dict[str, bool]:
    """The tenant's records of `kind` (from the connector `source` when given): external id -> deleted."""
    rows = await admin.fetch(
        "SELECT external_id, deleted FROM records"
        " WHERE tenant_id = $1 AND kind = $2 AND ($3::text IS NULL OR source = $3)",
        tenant,
        kind,
        source,
    )
    return {r["external_id"]: r["deleted"] for r in rows}


async def record_count(admin, tenant: str, kind: str, source: str | None = None) -> int:
    return len(await deleted_by_id(admin, tenant, kind, source))


async def deleted_ids(admin, tenant: str, kind: str, source: str | None = None) -> list[str]:
    return [k for k, deleted in (await deleted_by_id(admin, tenant, kind, source)).items() if deleted]


async def run_and_publish(redis, deps: sync.SyncDeps, target: sync.Target, run_id: str, full: bool = False):
    """One sync run: its result, and the events it published (its own started and completed among them)."""
    before = len(await published(redis, target.tenant_id))
    finished = await sync.run(deps, target, run_id, full=full)
    return finished, (await published(redis, target.tenant_id))[before:]

"""What a sync step, an action or a webhook set-up needs to call a connector's provider API (`SyncDeps`), the
connector's row (it must exist and be active: `ConnectorGone` otherwise) and one call's inputs (`api_call`): config
from Postgres, secrets from Vault (read here only), a fresh OAuth2 token bound to the connector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from connectors.access_tokens import bound_token
from connectors.base import ApiCall
from connectors.credentials import SecretStore
from connectors.oauth import TokenSource
from connectors.registry import get_api, get_facts
from db.pool import tenant_transaction
from events.errors import PermanentError
from producers.publisher import Publisher


class ConnectorGone(PermanentError):
    """The connector does not exist (deleted) or is not active: nothing to sync."""


@dataclass(frozen=True)
class SyncDeps:
    pool: asyncpg.Pool  # the service role's: row-level security applies
    publisher: Publisher
    secrets: SecretStore
    allow_private: bool = False  # development and tests: a store on a private address
    tokens: TokenSource | None = None  # OAuth2 connectors' access tokens (refreshed under a lock); None: as stored
    step_s: float = 0.0  # how long a step reads pages (the temporal-worker: settings' sync_step_s); 0: one page


async def connector_row(pool: asyncpg.Pool, tenant_id: str, connector_id: str) -> asyncpg.Record:
    async with tenant_transaction(pool, tenant_id) as conn:
        return await active_connector(conn, connector_id)


async def active_connector(conn: asyncpg.Connection, connector_id: str) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT provider, config, status FROM connectors WHERE id = $1", connector_id)
    if row is None:
        raise ConnectorGone(f"connector {connector_id} does not exist")
    if row["status"] != "active":  # the status in the message: a run a disconnect stopped says so
        raise ConnectorGone(f"connector {connector_id} is {row['status']}, not active")
    return row


async def api_call(deps: SyncDeps, tenant_id: str, connector_id: str) -> tuple[Any, ApiCall]:
    """The provider's api module and one call's inputs: config from Postgres, secrets from Vault (here only)."""
    row = await connector_row(deps.pool, tenant_id, connector_id)
    api = get_api(row["provider"])
    if api is None:
        raise PermanentError(f"{row['provider']} has no API to sync from (webhooks only)")
    config = row["config"] if isinstance(row["config"], dict) else json.loads(row["config"])
    secrets = await deps.secrets.read(tenant_id, connector_id) or {}
    facts = get_facts(row["provider"])
    tokens = bound_token(deps.tokens, tenant_id, connector_id) if deps.tokens and facts.auth.kind == "oauth2" else None
    return api, ApiCall(facts, config, secrets, deps.allow_private, tokens)

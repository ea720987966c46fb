"""Webhooks the set-up workflow registers at the provider, and that a disconnect unregisters.

A provider whose provider.toml says `webhooks.registration = "by_setup"` has an api.py with
`register_webhooks(call, delivery_url, secret) -> Registration` and `unregister_webhooks(call, ids)`. A connector of
it created without a webhook secret (`connectors.webhooks_by_setup`) has them registered by its set-up; one created
with a secret had them added by hand, and set-up leaves them alone.

- The delivery URL is the platform's public address (BIZOSAAS_PUBLIC_URL) + `/v1/webhooks/{connector}`, as the
  gateway answers `webhook_url`; without it registration is skipped with a reason shown on the connector.
- The secret: one the platform makes is written to Vault before any webhook exists (so a retried attempt signs with
  the same one and the first delivery verifies); one the provider makes (Stripe) is written as soon as it is
  answered. Never returned, logged, or put in an event or a workflow's history.
- Registering is idempotent: the api finds the webhooks an earlier attempt made (listing the provider's); their ids
  are kept in `connector_webhooks`, which is what unregistering deletes at the provider.
- An api module with `REGISTER_EACH_TICK = True` is registered again on each tick of the connector's schedule
  (`renew`): Zoho CRM's notification channels expire (a week at most; the api updates a channel only when it expires
  within its RENEW_WITHIN, so a tick usually costs one listing), and Trello's webhooks are per board (a board made
  after the set-up gets its webhook on the next tick; a tick costs two listings).
"""

from __future__ import annotations

import json
import logging
import secrets as random
from dataclasses import dataclass, replace

import asyncpg

from connectors import sync_deps
from connectors.base import ApiCall
from connectors.credentials import CURRENT, SecretStore
from connectors.registry import get_api, get_facts
from db.pool import tenant_transaction

log = logging.getLogger("bizosaas.connectors.webhook_setup")

WEBHOOK_PATH = "/v1/webhooks/{connector_id}"  # the gateway's ingestion route (gateway/routes_webhooks.py)


@dataclass(frozen=True)
class Registered:
    webhooks: int  # registered at the provider for this connector
    note: str = ""  # why none were, when the set-up would have registered them


def delivery_url(public_url: str, connector_id: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH.format(connector_id=connector_id)


async def _by_setup(deps: sync_deps.SyncDeps, tenant_id: str, connector_id: str) -> tuple[str, bool]:
    async with tenant_transaction(deps.pool, tenant_id) as conn:
        row = await conn.fetchrow("SELECT provider, webhooks_by_setup FROM connectors WHERE id = $1", connector_id)
    if row is None:
        raise sync_deps.ConnectorGone(f"connector {connector_id} does not exist")
    return row["provider"], row["webhooks_by_setup"]


async def register(deps: sync_deps.SyncDeps, public_url: str, tenant_id: str, connector_id: str) -> Registered:
    """Register the connector's webhooks at the provider (or find them registered), keep their ids, and keep the
    secret that signs them in Vault. Answers how many, or why none."""
    provider, by_setup = await _by_setup(deps, tenant_id, connector_id)
    facts = get_facts(provider)
    if facts.webhooks.registration != "by_setup":
        return Registered(0)  # by hand, or none: nothing for the set-up to do, nothing to say
    if not by_setup:
        return Registered(0, "the connector was created with a webhook secret: its webhooks are added by hand")
    api = get_api(provider)
    if api is None or not hasattr(api, "register_webhooks"):
        return Registered(0, f"{facts.title}'s webhooks cannot be registered by the platform yet: add them by hand")
    if not public_url:
        return Registered(
            0,
            "webhooks not registered: BIZOSAAS_PUBLIC_URL is not set, so the provider has no address to deliver "
            "to; set it and connect again, or add the webhooks by hand",
        )
    url = delivery_url(public_url, connector_id)
    _, call = await sync_deps.api_call(deps, tenant_id, connector_id)
    secret = call.secrets.get(CURRENT) or ""
    if not secret:  # ours: in Vault before any webhook signs with it
        secret = "bzwh_" + random.token_urlsafe(32)
        await _keep_secret(deps, tenant_id, connector_id, secret)
        call = replace(call, secrets={**call.secrets, CURRENT: secret})
    registration = await api.register_webhooks(call, url, secret)
    if registration.secret and registration.secret != secret:  # the provider's own (Stripe)
        await _keep_secret(deps, tenant_id, connector_id, registration.secret)
    async with tenant_transaction(deps.pool, tenant_id) as conn:
        await conn.execute("DELETE FROM connector_webhooks WHERE connector_id = $1", connector_id)
        await conn.executemany(
            """INSERT INTO connector_webhooks (tenant_id, connector_id, topic, webhook_id, delivery_url)
               VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4)""",
            [(connector_id, topic, webhook_id, url) for topic, webhook_id in sorted(registration.webhooks.items())],
        )
    log.info(
        "registered %d webhook(s) at %s", len(registration.webhooks), provider, extra={"connector_id": connector_id}
    )
    return Registered(len(registration.webhooks))


async def renew(deps: sync_deps.SyncDeps, public_url: str, tenant_id: str, connector_id: str) -> Registered:
    """The schedule's tick: register again, where the set-up registered and the api asks for it each tick."""
    provider, by_setup = await _by_setup(deps, tenant_id, connector_id)
    api = get_api(provider)
    each_tick = getattr(api, "REGISTER_EACH_TICK", False)
    if not by_setup or not each_tick or not await registered(deps.pool, tenant_id, connector_id):
        return Registered(0)
    return await register(deps, public_url, tenant_id, connector_id)


async def _keep_secret(deps: sync_deps.SyncDeps, tenant_id: str, connector_id: str, secret: str) -> None:
    values = await deps.secrets.read(tenant_id, connector_id, fresh=True) or {}
    await deps.secrets.write(tenant_id, connector_id, {**values, CURRENT: secret})


async def registered(pool: asyncpg.Pool, tenant_id: str, connector_id: str) -> list[str]:
    """The provider's ids of the webhooks the set-up registered for the connector."""
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch("SELECT webhook_id FROM connector_webhooks WHERE connector_id = $1", connector_id)
    return sorted({r["webhook_id"] for r in rows})


async def unregister(
    pool: asyncpg.Pool,
    secrets: SecretStore,
    allow_private: bool,
    tenant_id: str,
    connector_id: str,
    provider: str,
    webhook_ids: list[str],
) -> None:
    """Delete these webhooks at the provider (a disconnect, before the connector's secrets are destroyed: the
    provider's API needs them); one already gone counts as deleted. Their rows stay until `forget`."""
    async with tenant_transaction(pool, tenant_id) as conn:
        config = await conn.fetchval("SELECT config FROM connectors WHERE id = $1", connector_id)
    values = await secrets.read(tenant_id, connector_id, fresh=True) or {}
    config = json.loads(config) if isinstance(config, str) else (config or {})
    call = ApiCall(get_facts(provider), config, values, allow_private)
    await get_api(provider).unregister_webhooks(call, webhook_ids)


async def forget(pool: asyncpg.Pool, tenant_id: str, connector_id: str) -> None:
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("DELETE FROM connector_webhooks WHERE connector_id = $1", connector_id)

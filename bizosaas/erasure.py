"""Erasing a tenant, or one person within a tenant, from every place the platform keeps data (DESIGN.md, "Data
protection"), and recording the erasure without the erased data.

Places: Postgres (records, event_log, chunks, deliveries' raw bodies, commands, knowledge — which is records of kind
`document` — usage, inboxes, connectors, API keys, and what the agents keep: runs, traces, queued run requests,
chat messages: db/erasure.py, db/erasure_agents.py), Redis (partition, command, delivery, replay and
dead-letter streams: producers/erasure.py) and, for a tenant, its connectors' and outbound webhooks' secrets in
Vault. Postgres is erased
before and after Redis, so an entry a worker was handling while Redis was cleaned is removed on the second pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis

from bizosaas.settings import Settings
from connectors.credentials import VaultSecrets
from db.erasure import Person, erase_person_rows, erase_tenant_rows, record_erasure
from db.pool import create_pool, tenant_transaction
from producers.erasure import PersonEntries, erase_entries


@dataclass
class Erasure:
    id: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for place, n in more.items():
        if n:
            total[place] = total.get(place, 0) + n


async def erase_tenant(settings: Settings, tenant_id: str, requested_by: str) -> Erasure:
    started = datetime.now(UTC)
    result = Erasure()
    pool = await create_pool(settings.database_url, max_size=2)
    redis = Redis.from_url(settings.redis_url)
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            connectors = [
                r["id"] for r in await conn.fetch("SELECT id FROM connectors WHERE tenant_id = $1", tenant_id)
            ]
            hooks = [
                r["id"] for r in await conn.fetch("SELECT id FROM hook_subscriptions WHERE tenant_id = $1", tenant_id)
            ]
        # secrets first: a failure here leaves the connector and hook rows, so running the command again finds them
        place = (settings.vault_addr, settings.vault_token, settings.vault_mount, settings.vault_prefix)
        vault, hook_vault = VaultSecrets(*place), VaultSecrets(*place, collection="hooks")
        for connector_id in connectors:
            await vault.delete(tenant_id, connector_id)
        for hook_id in hooks:  # outbound webhooks' signing secrets
            await hook_vault.delete(tenant_id, hook_id)
        _add(result.counts, {"vault_secrets": len(connectors) + len(hooks)})
        _add(result.counts, (await erase_tenant_rows(pool, tenant_id))[0])
        _add(result.counts, await erase_entries(redis, tenant_id, settings.partitions))
        _add(result.counts, (await erase_tenant_rows(pool, tenant_id))[0])
        result.id = await record_erasure(pool, tenant_id, "tenant", "tenant", requested_by, started, result.counts)
    finally:
        await redis.aclose()
        await pool.close()
    return result


async def erase_person(
    settings: Settings,
    tenant_id: str,
    requested_by: str,
    email: str | None = None,
    external_id: str | None = None,
    source: str | None = None,
) -> Erasure:
    started = datetime.now(UTC)
    person = Person(
        emails={email.strip().lower()} if email else set(),
        external_ids={external_id} if external_id else set(),
        source=source,
    )
    result = Erasure()
    pool = await create_pool(settings.database_url, max_size=2)
    redis = Redis.from_url(settings.redis_url)
    try:
        _add(result.counts, await erase_person_rows(pool, tenant_id, person))
        entries = PersonEntries(person.event_ids, person.keys, person.emails)
        _add(result.counts, await erase_entries(redis, tenant_id, settings.partitions, entries))
        _add(result.counts, await erase_person_rows(pool, tenant_id, person))
        _add(result.counts, {"entities": len(person.keys)})
        selector = "email" if email else "external_id"
        result.id = await record_erasure(pool, tenant_id, "person", selector, requested_by, started, result.counts)
    finally:
        await redis.aclose()
        await pool.close()
    return result

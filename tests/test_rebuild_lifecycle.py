"""`bizosaas projections rebuild` rebuilds the sync history (`sync_runs`) and the set-up outcomes
(`connector_setups`) as well as `records`: real syncs (connectors/sync.py, no Temporal) of two tenants' connectors
against a local WooCommerce, projected by the projector; then the tables are wiped and rebuilt from `event_log`, and
they hold the same rows (and the same answer of GET /v1/connectors/{id}/syncs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from factories import running, served, wait_for
from providers.woocommerce_server import WooCommerceStore

from connectors import sync
from connectors.credentials import VaultSecrets
from consumers.projector import projector_group
from consumers.rebuild import rebuild_records
from db.pool import tenant_transaction
from events.ids import new_id
from events.streams import DEFAULT_PARTITIONS
from events.types import ConnectFailed, ConnectStarted, Subject
from producers.publisher import Publisher

TENANTS = ("rebuild-a", "rebuild-b")
SYNC_COLUMNS = (
    "tenant_id, run_id, connector_id, resource, full_run, status, started_at, finished_at, records, added, updated, "
    "deleted, error, retryable"
)


@pytest.fixture
async def store():
    async with served(WooCommerceStore()) as shop:
        yield shop


async def _connector(admin, secrets: VaultSecrets, store: WooCommerceStore, tenant: str) -> str:
    connector_id = f"con_{tenant.replace('-', '')}"
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'woocommerce', 'shop', $3)",
        tenant,
        connector_id,
        json.dumps({"store_url": store.url, "currency": "EUR"}),
    )
    await secrets.write(tenant, connector_id, {"consumer_key": store.consumer_key, "consumer_secret": "x"})
    return connector_id


def _setup_event(cls, tenant: str, connector_id: str, **fields):
    now = datetime.now(UTC)
    subject = Subject(kind="connector", external_id=connector_id)
    return cls(
        id=new_id(), tenant_id=tenant, source=connector_id, provider="woocommerce", subject=subject,
        occurred_at=now, recorded_at=now, **fields,
    )  # fmt: skip


async def test_rebuild_restores_the_sync_history_and_set_up_outcomes(redis, pool, admin, vault, migrated, store):
    store.seed(orders=12, products=2, customers=2)
    secrets = VaultSecrets(vault.addr, vault.token)
    publisher = Publisher(redis)
    deps = sync.SyncDeps(pool, publisher, secrets, allow_private=True)
    runs = 0
    async with running(redis, [projector_group(pool, DEFAULT_PARTITIONS)]):
        for tenant in TENANTS:
            connector_id = await _connector(admin, secrets, store, tenant)
            # a set-up that failed (the wrong secret), then completed and failed sync runs
            started = _setup_event(ConnectStarted, tenant, connector_id)
            failed = _setup_event(ConnectFailed, tenant, connector_id, step="test", reason="check consumer_secret")
            await publisher.publish([started, failed])
            with pytest.raises(Exception, match="refused the consumer key"):
                await sync.run(deps, sync.Target(tenant, connector_id, "orders"), new_id(), full=True)
            await secrets.write(
                tenant, connector_id, {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret}
            )
            for resource in ("orders", "products", "customers"):
                await sync.run(deps, sync.Target(tenant, connector_id, resource), new_id(), full=True)
            store.change("orders", store.ids("orders")[0], status="completed")
            await sync.run(deps, sync.Target(tenant, connector_id, "orders"), new_id())
            runs += 5
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM sync_runs WHERE status <> 'running'"), runs)
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM connector_setups WHERE status = 'failed'"), 2)

    before = await admin.fetch(f"SELECT {SYNC_COLUMNS} FROM sync_runs ORDER BY tenant_id, run_id")
    setups = await admin.fetch("SELECT * FROM connector_setups ORDER BY tenant_id, connector_id")
    assert {r["status"] for r in before} == {"completed", "failed"} and len(before) == runs
    assert any(r["added"] for r in before) and any(r["error"] for r in before)
    await admin.execute("TRUNCATE sync_runs, connector_setups")

    result = await rebuild_records(migrated.admin_url, page=7)  # pages that split a tenant's events

    after = await admin.fetch(f"SELECT {SYNC_COLUMNS} FROM sync_runs ORDER BY tenant_id, run_id")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    assert [tuple(r) for r in await admin.fetch("SELECT * FROM connector_setups ORDER BY 1, 2")] == [
        tuple(r) for r in setups
    ]
    assert result.sync_runs == runs and result.setups == 2
    # row-level security sees them as the service role does: each tenant its own
    async with tenant_transaction(pool, TENANTS[0]) as conn:
        assert await conn.fetchval("SELECT count(*) FROM sync_runs") == runs // 2

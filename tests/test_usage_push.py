"""The platform's own billing: billed tenants' closed days of usage_counts pushed to a local Lago
(tests/providers/lago_server.py) as usage events, once, through the `usage-push` Temporal Schedule on the real
Temporal dev server, OpenBao, Postgres and Redis (connectors/usage_push.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, time, timedelta

import msgspec
import pytest
from conftest import bizosaas_command
from factories import order, running, served, wait_for
from providers.lago_server import LagoAccount

from connectors import usage_push
from connectors.credentials import VaultSecrets
from connectors.sync_deps import SyncDeps
from connectors.temporal.client import apply_usage_schedule
from connectors.temporal.shared import (
    TASK_QUEUE,
    USAGE_PUSH_SCHEDULE,
    USAGE_PUSH_WORKFLOW,
    UsagePushInput,
    UsagePushResult,
)
from consumers.metrics import metrics_group
from events.errors import PermanentError
from events.streams import DEFAULT_PARTITIONS
from producers.publisher import Publisher

PLATFORM, BILLING = "tenant-platform", "con_billing_lago"
ALPHA, BETA, UNBILLED = "tenant-usage-a", "tenant-usage-b", "tenant-usage-c"
TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=1)
TIMEOUT_S = 90.0
TYPE = "commerce.order.upserted.v2"

# (tenant, day, event type, provider, events): what the metrics group would have counted
USAGE = [
    (ALPHA, D1, "commerce.order.upserted.v2", "woocommerce", 120),
    (ALPHA, D1, "crm.contact.upserted.v1", "fluentcrm", 7),
    (ALPHA, D2, "commerce.order.upserted.v2", "woocommerce", 95),
    (ALPHA, TODAY, "commerce.order.upserted.v2", "woocommerce", 40),  # today is not closed: not pushed
    (ALPHA, D1 - timedelta(days=30), "crm.lead.upserted.v1", "zoho-crm", 3),  # before billed_from: not pushed
    (BETA, D2, "billing.invoice.upserted.v1", "stripe", 12),
    (UNBILLED, D2, "commerce.order.upserted.v2", "shopify", 50),  # no billing account: not pushed
]
SUBSCRIPTIONS = {ALPHA: "sub-alpha", BETA: "sub-beta"}


def expected(usage=USAGE) -> dict[str, dict]:
    """transaction id -> the event Lago must hold, for every row of `usage` that is due."""
    due = [u for u in usage if u[0] in SUBSCRIPTIONS and D1 <= u[1] < TODAY]
    return {
        f"bizosaas-usage:{t}:{d.isoformat()}:{ty}:{p}": {
            "external_subscription_id": SUBSCRIPTIONS[t],
            "code": "platform_events",
            "properties": {"events": n, "event_type": ty, "provider": p},
            "timestamp": int(datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=UTC).timestamp()),
        }
        for t, d, ty, p, n in due
    }


def held(lago: LagoAccount) -> dict[str, dict]:
    keys = ("external_subscription_id", "code", "properties", "timestamp")
    return {tid: {k: e[k] for k in keys} for tid, e in lago.events.items()}


def posts(lago: LagoAccount) -> int:
    return sum(1 for method, path, *_ in lago.log if method == "POST" and path == "/api/v1/events")


async def bizosaas(servers, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *bizosaas_command(), *args, env=servers.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


@pytest.fixture
async def lago():
    async with served(LagoAccount()) as account:
        yield account


@pytest.fixture
async def deps(pool, redis, vault, admin, lago, servers):
    for tenant in (PLATFORM, ALPHA, BETA, UNBILLED):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO connectors (tenant_id, id, provider, name, config) VALUES ($1, $2, 'lago', 'billing', $3)",
        PLATFORM,
        BILLING,
        json.dumps({"api_url": lago.url}),
    )
    secrets = VaultSecrets(vault.addr, vault.token)
    await secrets.write(PLATFORM, BILLING, {"api_key": lago.api_key, "webhook_secret": "whsec-billing"})
    # the operator's command: bill ALPHA from D1 on, BETA from today on (then moved back: --from changes it)
    for tenant, billed_from in ((ALPHA, D1), (BETA, TODAY), (BETA, D2)):
        code, out = await bizosaas(servers, "tenant", "bill", tenant, SUBSCRIPTIONS[tenant], "--from", str(billed_from))
        assert code == 0, out
    assert (await bizosaas(servers, "tenant", "bill", "tenant-nobody", "sub-x"))[0] == 1
    return SyncDeps(pool, Publisher(redis), secrets, allow_private=True)


async def test_usage_is_pushed_once_per_closed_day_and_tenant(deps, lago, admin):
    await admin.executemany("INSERT INTO usage_counts VALUES ($1, $2, $3, $4, $5)", USAGE)
    first = await usage_push.push_usage(deps, BILLING, TODAY)
    assert (first.tenants, first.events) == (2, len(expected()))
    assert held(lago) == expected()
    ledger = await admin.fetch("SELECT tenant_id, transaction_id, events, lago_id FROM usage_pushes ORDER BY 1, 2")
    assert {r["transaction_id"] for r in ledger} == set(expected())
    assert all(r["lago_id"] == lago.events[r["transaction_id"]]["lago_id"] for r in ledger)

    # pushed again: nothing is sent
    before = posts(lago)
    assert (await usage_push.push_usage(deps, BILLING, TODAY)).events == 0
    assert posts(lago) == before and held(lago) == expected()

    # a push that died after Lago recorded the events but before the ledger: sent again, billed once
    await admin.execute("DELETE FROM usage_pushes WHERE tenant_id = $1", ALPHA)
    again = await usage_push.push_usage(deps, BILLING, TODAY)
    assert again.events == 3 and posts(lago) == before + 3 and held(lago) == expected()
    assert await admin.fetchval("SELECT count(*) FROM usage_pushes") == len(expected())

    # the next day closes today's row
    tomorrow = await usage_push.push_usage(deps, BILLING, TODAY + timedelta(days=1))
    assert tomorrow.events == 1 and len(lago.events) == len(expected()) + 1


async def test_a_billing_connector_that_is_not_lago_is_refused(deps, admin):
    with pytest.raises(PermanentError, match="no active Lago connector"):
        await usage_push.push_usage(deps, "con_nope", TODAY)
    await admin.execute("UPDATE connectors SET status = 'disconnected' WHERE id = $1", BILLING)
    with pytest.raises(PermanentError, match="not found or disconnected"):
        await usage_push.push_usage(deps, BILLING, TODAY)


async def test_usage_counted_by_the_metrics_group_is_pushed_by_the_schedule(deps, temporal, lago, redis, pool, admin):
    """Events counted by the metrics group (by the day they occurred) reach Lago through the schedule the temporal
    worker applies; a second run sends nothing more."""
    occurred = [(ALPHA, D1), (ALPHA, D1), (ALPHA, D1), (ALPHA, D2), (ALPHA, D2), (BETA, D2), (UNBILLED, D2)]
    events = [
        msgspec.structs.replace(order(tenant, f"{i}"), occurred_at=datetime.combine(day, time(12), tzinfo=UTC))
        for i, (tenant, day) in enumerate(occurred)
    ]
    await Publisher(redis).publish(events)
    async with running(redis, [metrics_group(pool, DEFAULT_PARTITIONS)]):
        ours = [ALPHA, BETA, UNBILLED]  # an earlier test's workflow may still publish for its own tenant meanwhile
        await wait_for(
            lambda: admin.fetchval(
                "SELECT coalesce(sum(events), 0) FROM usage_counts WHERE tenant_id = ANY($1::text[])", ours
            ),
            len(events),
        )
    counted = [
        (ALPHA, D1, TYPE, "woocommerce", 3),
        (ALPHA, D2, TYPE, "woocommerce", 2),
        (BETA, D2, TYPE, "woocommerce", 1),
    ]
    assert await apply_usage_schedule(temporal, BILLING, 3600)
    assert await apply_usage_schedule(temporal, BILLING, 3600)  # applying again updates it
    try:
        await temporal.get_schedule_handle(USAGE_PUSH_SCHEDULE).trigger()
        await wait_for(lambda: _held_async(lago), expected(counted), timeout_s=TIMEOUT_S)
        before = posts(lago)
        rerun = await temporal.execute_workflow(
            USAGE_PUSH_WORKFLOW,
            UsagePushInput(BILLING),
            id="usage-push-test-rerun",
            task_queue=TASK_QUEUE,
            result_type=UsagePushResult,
        )
        assert rerun == UsagePushResult(tenants=2, events=0)
        assert posts(lago) == before and held(lago) == expected(counted)
    finally:
        assert not await apply_usage_schedule(temporal, "", 3600)  # billing off: the schedule is removed


async def _held_async(lago: LagoAccount) -> dict[str, dict]:
    return held(lago)

"""The outbound attempt queue in Postgres (migration 0042): a claim is a lease held in its own, unindexed column
(written as a heap-only update: no index entries), handed-back attempts are claimable again, and the attempt log
pages newest first by id. The dispatcher around these statements is tested in test_outbound_hooks.py."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from factories import TIMEOUT_S, wait_for

from connectors.config import ConnectorsConfig
from connectors.credentials import VaultSecrets
from consumers.outbound import ATTEMPT_ID_PREFIX, INSERT_ATTEMPTS, insert_arguments
from consumers.outbound_claims import CLAIM, claim_due, hand_back, prune_attempt_log
from consumers.outbound_dispatch import Dispatcher
from consumers.outbound_outcomes import DELIVERED_PER_WRITE, WRITE_DELIVERED, Claimed, write_delivered
from db.pool import create_pool, tenant_transaction
from events.ids import new_id
from producers.publisher import Publisher

LEASE_S = 60.0


async def queue(
    admin, tenant: str, hook_id: str, n: int, status: str = "pending", start_ms: int = 1_800_000_000_000
) -> list[str]:
    """`n` attempts of one subscription, as the outbound group writes them, made from `start_ms` on a millisecond
    apart; their ids, oldest first."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) VALUES ($1, $2, 'https://x.test/', "
        "'{commerce.order.*}') ON CONFLICT DO NOTHING",
        tenant,
        hook_id,
    )
    ids = [ATTEMPT_ID_PREFIX + new_id(at_ms=start_ms + i) for i in range(n)]
    await admin.executemany(
        "INSERT INTO hook_attempts (tenant_id, id, hook_id, event_id, event_type, body, status) "
        "VALUES ($1, $2, $3, $4, 'commerce.order.upserted.v2', '{}', $5)",
        [(tenant, i, hook_id, "ev_" + i, status) for i in ids],
    )
    return ids


async def test_each_attempt_gets_its_own_events_body_once_per_subscription(pool, admin):
    """The group's insert sends each event once and names it per attempt by position: events going to different
    subscriptions must each land with their own id, type and body, and a disabled subscription gets nothing."""
    for hook_id in ("hook_1", "hook_2", "hook_off"):
        await queue(admin, "t-insert", hook_id, 0)
    await admin.execute("UPDATE hook_subscriptions SET enabled = false WHERE id = 'hook_off'")
    events = [
        ("ev_a", "commerce.order.upserted.v2", '{"n": "a"}', ["hook_1", "hook_2"]),
        ("ev_b", "commerce.order.deleted.v2", '{"n": "b"}', ["hook_2", "hook_off"]),
        ("ev_c", "commerce.order.upserted.v2", '{"n": "c"}', ["hook_1"]),
    ]
    async with tenant_transaction(pool, "t-insert") as conn:
        for _ in range(2):  # the second time (a re-delivered batch) adds nothing
            await conn.execute(INSERT_ATTEMPTS, *insert_arguments(events, ["hook_1", "hook_2", "hook_off"]))
    rows = await admin.fetch(
        "SELECT hook_id, event_id, event_type, body FROM hook_attempts WHERE tenant_id = 't-insert' "
        "ORDER BY hook_id, event_id"
    )
    assert [tuple(r) for r in rows] == [
        ("hook_1", "ev_a", "commerce.order.upserted.v2", '{"n": "a"}'),
        ("hook_1", "ev_c", "commerce.order.upserted.v2", '{"n": "c"}'),
        ("hook_2", "ev_a", "commerce.order.upserted.v2", '{"n": "a"}'),
        ("hook_2", "ev_b", "commerce.order.deleted.v2", '{"n": "b"}'),
    ]


async def test_a_claim_leases_without_writing_index_entries(pool, admin):
    ids = await queue(admin, "t-lease", "hook_a", 6)
    async with tenant_transaction(pool, "t-lease") as conn:
        claimed = await conn.fetch(CLAIM, 4, LEASE_S, 10, [], [])
        # this transaction's own counts: every claimed row was updated heap-only (the old lease moved next_attempt_at,
        # the due indexes' key, so each claim wrote an entry in every index)
        stats = await conn.fetchrow(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'hook_attempts'"
        )
    assert [r["id"] for r in claimed] == ids[:4]  # oldest due first
    assert stats["n_tup_upd"] == 4 and stats["n_tup_hot_upd"] == 4, dict(stats)

    # another dispatcher passes over the leased ones; the log still shows them due when they were
    other = await claim_due(pool, "t-lease", 10, LEASE_S, 10, {})
    assert [a.id for a in other] == ids[4:] and all(a.attempts == 1 for a in other)
    assert await claim_due(pool, "t-lease", 10, LEASE_S, 10, {}) == []
    due = await admin.fetch("SELECT next_attempt_at <= now() AS due FROM hook_attempts WHERE tenant_id = 't-lease'")
    assert all(r["due"] for r in due)

    # handed back: claimable at once, the try not counted
    await hand_back(pool, other)
    again = await claim_due(pool, "t-lease", 10, LEASE_S, 10, {})
    assert [a.id for a in again] == ids[4:] and all(a.attempts == 1 for a in again)


async def test_a_hook_with_only_leased_attempts_is_not_due(pool, admin):
    await queue(admin, "t-due", "hook_b", 2)
    assert "t-due" in {r["tenant_id"] for r in await admin.fetch("SELECT * FROM hook_tenants_due(100)")}
    await claim_due(pool, "t-due", 10, LEASE_S, 10, {})
    assert "t-due" not in {r["tenant_id"] for r in await admin.fetch("SELECT * FROM hook_tenants_due(100)")}


async def test_the_attempt_log_pages_newest_first(gw, admin):
    tenant, key = await gw.create_tenant()
    hook = await gw.post(
        "/v1/hooks",
        json={"target_url": "https://example.com/hook", "event_types": ["commerce.order.*"]},
        headers=gw.bearer(key),
    )
    hook_id = (await hook.json())["id"]
    ids = await queue(admin, tenant, hook_id, 5)
    await admin.execute("UPDATE hook_attempts SET status = 'failed' WHERE id = ANY($1)", ids[1::2])

    async def walk(query: str) -> list[str]:
        seen, url = [], f"/v1/hooks/{hook_id}/attempts?limit=2{query}"
        while url:
            resp = await gw.get(url, headers=gw.bearer(key))
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert len(body["items"]) <= 2
            seen += [a["id"] for a in body["items"]]
            url = body["next"] and f"/v1/hooks/{hook_id}/attempts?limit=2{query}&cursor={body['next']}"
        return seen

    assert await walk("") == ids[::-1]
    assert await walk("&status=failed") == ids[1::2][::-1]


DAY_S = 86_400


async def test_the_log_keeps_finished_attempts_for_its_retention(pool, admin):
    now_ms = int(time.time() * 1000)
    old = await queue(admin, "t-keep", "hook_d", 4, start_ms=now_ms - 31 * DAY_S * 1000)
    recent = await queue(admin, "t-keep", "hook_d", 2, start_ms=now_ms - 29 * DAY_S * 1000)
    other = await queue(admin, "t-keep2", "hook_e", 1, start_ms=now_ms - 40 * DAY_S * 1000)  # another tenant
    finished = {old[0]: "delivered", old[1]: "failed", recent[0]: "delivered", other[0]: "failed"}
    for attempt_id, status in finished.items():
        await admin.execute("UPDATE hook_attempts SET status = $2 WHERE id = $1", attempt_id, status)

    assert await prune_attempt_log(pool, 30 * DAY_S) == 3  # the old finished ones, in both tenants
    left = {r["id"] for r in await admin.fetch("SELECT id FROM hook_attempts")}
    assert left == {*old[2:], *recent}  # old pending ones stay, however old
    assert await prune_attempt_log(pool, 30 * DAY_S) == 0


async def test_the_dispatcher_applies_the_retention_when_it_starts(pool, admin, redis, vault):
    old = await queue(admin, "t-start", "hook_f", 2, start_ms=int(time.time() * 1000) - 2 * DAY_S * 1000)
    await admin.execute("UPDATE hook_attempts SET status = 'delivered' WHERE id = $1", old[0])
    config = ConnectorsConfig(outbound_log_retention_s=DAY_S, outbound_poll_s=0.05)
    store = VaultSecrets(vault.addr, vault.token, cache_s=0, collection="hooks")
    stopping = asyncio.Event()
    task = asyncio.create_task(Dispatcher(pool, store, Publisher(redis), config).run(stopping))
    try:
        await wait_for(lambda: admin.fetchval("SELECT count(*) FROM hook_attempts WHERE id = $1", old[0]), 0)
    finally:
        stopping.set()
        await asyncio.wait_for(task, TIMEOUT_S)


async def test_the_delivered_write_uses_the_key_even_before_the_table_is_analyzed(admin):
    """The delivered write's statement, at its largest (DELIVERED_PER_WRITE) and as the service role
    (row-level security on), finds each attempt by the primary key on a table of 200,000 attempts that Postgres has
    never analyzed (the first minute after a migration). Before the cap, a writer that fell behind sent batches of a
    thousand and more, which that table plans as a hash join over every attempt of the tenant: shown here too, so
    the table is one that misleads the planner."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ('t-plan', 't-plan')")
    hooks = [f"hook_{i}" for i in range(100)]
    await admin.executemany(
        "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) "
        "VALUES ('t-plan', $1, 'https://x.test/', '{commerce.order.*}')",
        [(h,) for h in hooks],
    )
    await admin.execute("DROP SCHEMA IF EXISTS plan_check CASCADE")
    try:
        # a new copy of the table (indexes and all): never analyzed, as hook_attempts is after a migration
        await admin.execute(
            "CREATE SCHEMA plan_check; CREATE TABLE plan_check.hook_attempts (LIKE public.hook_attempts INCLUDING ALL) "
            "WITH (fillfactor = 50); GRANT USAGE ON SCHEMA plan_check TO bizosaas_app; "
            "GRANT ALL ON plan_check.hook_attempts TO bizosaas_app; "
            "ALTER TABLE plan_check.hook_attempts ENABLE ROW LEVEL SECURITY"
        )
        isolation = await admin.fetchval(  # the same policy as the real table's
            "SELECT qual FROM pg_policies WHERE schemaname = 'public' AND tablename = 'hook_attempts'"
        )
        await admin.execute(f"CREATE POLICY tenant_isolation ON plan_check.hook_attempts USING ({isolation})")
        await admin.execute(
            "INSERT INTO plan_check.hook_attempts (tenant_id, id, hook_id, event_id, event_type, body) "
            "SELECT 't-plan', 'att_' || lpad(e::text, 6, '0') || '_' || h, 'hook_' || h, 'ev_' || e, "
            "'commerce.order.upserted.v2', repeat('x', 440) FROM generate_series(0, 1999) e, generate_series(0, 99) h"
        )

        async def plan(n: int) -> str:
            async with admin.transaction():
                await admin.execute("SET LOCAL ROLE bizosaas_app; SET LOCAL search_path = plan_check, public")
                await admin.execute("SELECT set_config('app.tenant_id', 't-plan', true)")
                rows = await admin.fetch(
                    "EXPLAIN (COSTS OFF) " + WRITE_DELIVERED,
                    [f"hook_{i % 100}" for i in range(n)],
                    [f"att_{i // 100:06d}_{i % 100}" for i in range(n)],
                    [204] * n,
                    hooks,
                )
            return "\n".join(r[0] for r in rows)

        assert "Hash Join" in await plan(2000)  # what an uncapped batch got: every attempt of the tenant read
        capped = await plan(DELIVERED_PER_WRITE)
        assert "Hash Join" not in capped, capped
        assert "hook_attempts_pkey" in capped, capped
    finally:
        await admin.execute("DROP SCHEMA IF EXISTS plan_check CASCADE")


async def test_the_delivered_write_is_planned_for_its_batch_every_time(migrated, admin):
    """The service pool's connections plan each execution with its values. asyncpg prepares a statement once per
    connection, and after five executions Postgres may keep a generic plan, which takes every array parameter for ten
    elements; for the delivered write that plan reads every attempt of the tenant by the key's tenant prefix, and one
    chosen while the table was near empty stayed on its connection (the outbound bench's slow runs: 17 s a statement
    instead of 12 ms). Postgres counts which plans a prepared statement ran with: none may be generic."""
    ids = await queue(admin, "t-plans", "hook_plans", 40)
    now = datetime.now(UTC)
    answered = [
        (Claimed("t-plans", i, "hook_plans", "ev_" + i, b"{}", 1, now, "https://x.test/", None), 204) for i in ids
    ]
    one_connection = await create_pool(migrated.service_url, min_size=1, max_size=1)
    try:
        for start in range(0, len(answered), 4):  # ten writes, as the dispatcher's writer makes them
            await write_delivered(one_connection, answered[start : start + 4])
        async with one_connection.acquire() as conn:
            plans = await conn.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", WRITE_DELIVERED
            )
    finally:
        await one_connection.close()
    assert (plans["generic_plans"], plans["custom_plans"]) == (0, 10)


async def test_a_batch_larger_than_a_statement_is_written_whole(pool, admin):
    ids = await queue(admin, "t-many", "hook_many", 2 * DELIVERED_PER_WRITE + 7)
    now = datetime.now(UTC)
    answered = [
        (Claimed("t-many", i, "hook_many", "ev_" + i, b"{}", 1, now, "https://x.test/", None), 204) for i in ids
    ]
    await write_delivered(pool, answered)
    assert await admin.fetchval("SELECT count(*) FROM hook_attempts WHERE status = 'delivered'") == len(ids)

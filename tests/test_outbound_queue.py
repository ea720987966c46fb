"""The outbound attempt queue in Postgres (migration 0042): a claim is a lease held in its own, unindexed column
(written as a heap-only update: no index entries), handed-back attempts are claimable again, and the attempt log
pages newest first by id. The dispatcher around these statements is tested in test_outbound_hooks.py."""

from __future__ import annotations

from consumers.outbound_claims import CLAIM, claim_due, hand_back
from db.pool import tenant_transaction
from events.ids import new_id

LEASE_S = 60.0


async def queue(admin, tenant: str, hook_id: str, n: int, status: str = "pending") -> list[str]:
    """`n` attempts of one subscription, as the outbound group writes them; their ids, oldest first."""
    await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", tenant)
    await admin.execute(
        "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) VALUES ($1, $2, 'https://x.test/', "
        "'{commerce.order.*}') ON CONFLICT DO NOTHING",
        tenant,
        hook_id,
    )
    ids = ["att_" + new_id(at_ms=1_800_000_000_000 + i) for i in range(n)]
    await admin.executemany(
        "INSERT INTO hook_attempts (tenant_id, id, hook_id, event_id, event_type, body, status) "
        "VALUES ($1, $2, $3, $4, 'commerce.order.upserted.v2', '{}', $5)",
        [(tenant, i, hook_id, "ev_" + i, status) for i in ids],
    )
    return ids


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

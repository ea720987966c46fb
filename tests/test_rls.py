"""Row-level security: with tenant A set, nothing of tenant B can be read or written, whatever SQL is sent."""

from dataclasses import fields
from datetime import UTC, datetime

import asyncpg
import pytest
from gateway_helpers import ADMIN_TOKEN, Gateway

from db.migrate import dsn_parts
from db.pool import tenant_transaction
from events import codec
from events.ids import new_id
from events.streams import replay_stream, stream_for_tenant
from events.types import Order, OrderUpserted, Subject
from gateway.config import GatewayConfig
from gateway.state import CONFIG

TENANT_TABLES = ("event_log", "records", "group_inbox", "usage_counts")


async def seed(admin):
    for tenant in ("tenant-a", "tenant-b"):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
        await admin.execute(
            """INSERT INTO records (tenant_id, kind, source, external_id, id, updated_at, recorded_at, data,
                                    event_id, stream_ms, stream_seq)
               VALUES ($1, 'order', 's', '1', $1 || '-rec', now(), now(), '{}', 'e', 1, 0)""",
            tenant,
        )
        await admin.execute(
            """INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at,
                                      stream, stream_ms, stream_seq, body)
               VALUES ($1, $1 || '-ev', 't', 's', 'order', '1', now(), now(), 'x', 1, 0, '{}')""",
            tenant,
        )
        await admin.execute("INSERT INTO group_inbox (tenant_id, group_name, event_id) VALUES ($1, 'g', 'e')", tenant)
        await admin.execute("INSERT INTO usage_counts VALUES ($1, current_date, 't', 'p', 1)", tenant)


async def test_a_select_without_where_sees_only_the_current_tenant(pool, admin):
    await seed(admin)
    async with tenant_transaction(pool, "tenant-a") as conn:
        for table in TENANT_TABLES:
            tenants = {r["tenant_id"] for r in await conn.fetch(f"SELECT * FROM {table}")}
            assert tenants == {"tenant-a"}, table
        assert [r["id"] for r in await conn.fetch("SELECT * FROM tenants")] == ["tenant-a"]
        assert await conn.fetchval("SELECT count(*) FROM records WHERE tenant_id = 'tenant-b'") == 0


async def test_tenant_b_rows_cannot_be_modified_or_created_from_tenant_a(pool, admin):
    await seed(admin)
    async with tenant_transaction(pool, "tenant-a") as conn:
        assert await conn.execute("UPDATE records SET title = 'x'") == "UPDATE 1"
        assert await conn.execute("DELETE FROM records WHERE tenant_id = 'tenant-b'") == "DELETE 0"
        assert await conn.execute("DELETE FROM event_log") == "DELETE 1"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_transaction(pool, "tenant-a") as conn:
            await conn.execute(
                "INSERT INTO group_inbox (tenant_id, group_name, event_id) VALUES ('tenant-b', 'g', 'z')"
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_transaction(pool, "tenant-a") as conn:
            await conn.execute("UPDATE records SET tenant_id = 'tenant-b'")
    assert await admin.fetchval("SELECT title FROM records WHERE tenant_id = 'tenant-b'") is None
    assert await admin.fetchval("SELECT count(*) FROM event_log WHERE tenant_id = 'tenant-b'") == 1


async def test_without_a_tenant_nothing_is_visible(pool, admin):
    await seed(admin)
    async with pool.acquire() as conn:
        for table in (*TENANT_TABLES, "tenants"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_the_service_role_cannot_escape(pool, migrated):
    role = dsn_parts(migrated.service_url).user
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(row) == (False, False, False)
        owners = {
            r["tableowner"] for r in await conn.fetch("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
        assert role not in owners
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE postgres")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE records DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SELECT * FROM schema_migrations")


async def test_the_pre_tenant_lookups_are_callable_by_the_service_role_only(admin, migrated):
    role = dsn_parts(migrated.service_url).user
    for function in ("api_key_lookup(text)", "webhook_target(text)", "membership_lookup(text)", "invite_lookup(text)"):
        assert await admin.fetchval("SELECT has_function_privilege('public', $1, 'EXECUTE')", function) is False
        assert await admin.fetchval("SELECT has_function_privilege($1, $2, 'EXECUTE')", role, function) is True
    assert (
        await admin.fetchval("SELECT has_function_privilege($1, 'enable_tenant_isolation(regclass)', 'EXECUTE')", role)
        is False
    )


async def test_an_empty_tenant_setting_is_no_tenant(pool, admin):
    """After any transaction a pooled connection's app.tenant_id reads '' (not NULL): it must match nothing."""
    await seed(admin)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
        for statement in (
            "INSERT INTO tenants (id, name) VALUES ('', 'nobody')",
            """INSERT INTO records (tenant_id, kind, source, external_id, id, updated_at, recorded_at, data,
                                    event_id, stream_ms, stream_seq)
               VALUES ('', 'order', 's', '2', 'r2', now(), now(), '{}', 'e', 1, 0)""",
        ):
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute(statement)
        for table in (*TENANT_TABLES, "tenants"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert await admin.fetchval("SELECT count(*) FROM tenants WHERE id = ''") == 0
    assert await admin.fetchval("SELECT count(*) FROM records WHERE tenant_id = ''") == 0


async def tenant_tables(conn) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'  -- views: agents/aggregates.py's own test
             AND (column_name = 'tenant_id' OR (table_name, column_name) = ('tenants', 'id'))
           ORDER BY c.table_name"""
    )
    return [(r["table_name"], r["column_name"]) for r in rows]


@pytest.mark.parametrize("bad", ["", " tenant-a", "tenant-a\n", "Tenant-A", "tenant a", "a\x01b", "x" * 65])
async def test_no_tenant_table_admits_a_malformed_tenant_id(admin, bad):
    tables = await tenant_tables(admin)
    assert len(tables) >= 12  # 0001-0003 and the erasures of 0004
    for table, column in tables:
        checks = await admin.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype = 'c'",
            table,
        )
        assert any(column in c["def"] and "~" in c["def"] for c in checks), table
    with pytest.raises(asyncpg.CheckViolationError):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, 'x')", bad)
    with pytest.raises(asyncpg.CheckViolationError):
        await admin.execute("INSERT INTO usage_counts VALUES ($1, current_date, 't', 'p', 1)", bad)
    # the real format and the tests' slugs are admitted
    for good in ("ten_01hzx3k4v5w6y7z8a9b0c1d2e3", "tenant-a", "t1", "x" * 64):
        await admin.execute("INSERT INTO usage_counts VALUES ($1, current_date, 't', 'p', 1)", good)


async def test_security_definer_functions_resolve_names_in_pg_catalog_only(admin):
    rows = await admin.fetch(
        """SELECT p.oid::regprocedure::text AS name, p.proconfig FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prosecdef AND n.nspname = 'public'"""
    )
    assert {r["name"].split("(")[0] for r in rows} >= {"api_key_lookup", "webhook_target", "rag_keyword_candidates"}
    for row in rows:
        assert "search_path=pg_catalog, pg_temp" in (row["proconfig"] or []), row["name"]


async def test_the_readonly_role_reads_the_archive_and_writes_nothing(admin, migrated):
    await seed(admin)
    conn = await asyncpg.connect(migrated.readonly_url)
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(row) == (False, False, False, False)
        # every tenant's archive, no tenant set: what an operator replay reads
        assert {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM event_log")} == {"tenant-a", "tenant-b"}
        await conn.execute("SET default_transaction_read_only = off")  # the grants, not the session, must refuse
        tables = [
            r["tablename"] for r in await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            column = await admin.fetchval(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 "
                "ORDER BY ordinal_position LIMIT 1",
                table,
            )
            for statement in (
                f"INSERT INTO {table} DEFAULT VALUES",
                f"UPDATE {table} SET {column} = {column}",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            if table != "event_log":
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(f"SELECT * FROM {table} LIMIT 1")
        for function in ("api_key_lookup('x')", "webhook_target('x')"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT * FROM {function}")
    finally:
        await conn.close()
    assert await admin.fetchval("SELECT count(*) FROM event_log") == 2


async def test_an_operator_replay_over_http_reads_the_archive_as_the_readonly_role(gw: Gateway, admin, redis):
    """Redis holds nothing: every replayed entry comes from event_log, read through the read-only role."""
    now = datetime.now(UTC)
    event = OrderUpserted(
        id=new_id(),
        tenant_id="tenant-a",
        source="con_x",
        provider="woocommerce",
        subject=Subject(kind="order", external_id="7"),
        occurred_at=now,
        recorded_at=now,
        data=Order(number="7", total_minor=7),
    )
    await admin.execute(
        """INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at,
                                  stream, stream_ms, stream_seq, body)
           VALUES ($1, $2, $3, 'con_x', 'order', '7', now(), now(), $4, 5, 0, $5)""",
        "tenant-a",
        event.id,
        "commerce.order.upserted.v2",
        stream_for_tenant("tenant-a"),
        codec.encode(event).decode(),
    )
    await redis.xgroup_create(stream_for_tenant("tenant-a"), "projector", id="0", mkstream=True)  # a known group
    resp = await gw.post(
        "/v1/admin/replay",
        json={"group": "projector", "start": "-"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["queued"] == 1
    [(_, entry)] = await redis.xrange(replay_stream("projector"))
    assert codec.decode_entry(entry).id == event.id
    assert (
        await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            dsn_parts(gw.app[CONFIG].database_readonly_url).user,
        )
        >= 1
    )  # its pool's connection
    assert "database_admin_url" not in {f.name for f in fields(GatewayConfig)}  # the gateway holds no owner DSN

"""Row-level security: with tenant A set, nothing of tenant B can be read or written, whatever SQL is sent."""

import asyncpg
import pytest

from db.pool import tenant_transaction
from db.migrate import dsn_parts

TENANT_TABLES = ("event_log", "records", "group_inbox", "usage_counts")


async def seed(admin):
    for tenant in ("tenant-a", "tenant-b"):
        await admin.execute("INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant)
        await admin.execute(
            """INSERT INTO records (tenant_id, kind, source, external_id, id, updated_at, recorded_at, data,
                                    event_id, stream_ms, stream_seq)
               VALUES ($1, 'order', 's', '1', $1 || '-rec', now(), now(), '{}', 'e', 1, 0)""", tenant)
        await admin.execute(
            """INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at,
                                      stream, stream_ms, stream_seq, body)
               VALUES ($1, $1 || '-ev', 't', 's', 'order', '1', now(), now(), 'x', 1, 0, '{}')""", tenant)
        await admin.execute("INSERT INTO group_inbox (tenant_id, group_name, event_id) VALUES ($1, 'g', 'e')", tenant)
        await admin.execute(
            "INSERT INTO usage_counts VALUES ($1, current_date, 't', 'p', 1)", tenant)


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
            await conn.execute("INSERT INTO group_inbox (tenant_id, group_name, event_id) VALUES ('tenant-b', 'g', 'z')")
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
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert tuple(row) == (False, False, False)
        owners = {r["tableowner"] for r in await conn.fetch(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        assert role not in owners
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE postgres")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE records DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SELECT * FROM schema_migrations")


async def test_the_pre_tenant_lookups_are_callable_by_the_service_role_only(admin, migrated):
    role = dsn_parts(migrated.service_url).user
    for function in ("api_key_lookup(text)", "webhook_target(text)"):
        assert await admin.fetchval("SELECT has_function_privilege('public', $1, 'EXECUTE')", function) is False
        assert await admin.fetchval("SELECT has_function_privilege($1, $2, 'EXECUTE')", role, function) is True
    assert await admin.fetchval(
        "SELECT has_function_privilege($1, 'enable_tenant_isolation(regclass)', 'EXECUTE')", role) is False

"""Apply the plain SQL migrations in `db/migrations/` with the owner connection, and provision the service role.

Versioned (one row per applied file in `schema_migrations`), idempotent, serialized by an advisory lock. The service
role named in DATABASE_URL is created when missing and granted exactly table DML: it owns nothing, so row-level
security applies to it, and it is not a member of the owner role, so it cannot SET ROLE out of it. The read-only role
named in BIZOSAAS_DATABASE_READONLY_URL (operator replays over HTTP) is created the same way and made a member of
`bizosaas_archive_reader` (0004): SELECT on `event_log` and nothing else, never a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x62697A6F  # "bizo": one migrator at a time


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class DsnParts:
    user: str
    password: str | None
    database: str


def dsn_parts(dsn: str) -> DsnParts:
    url = urlsplit(dsn)
    return DsnParts(
        unquote(url.username or ""),
        unquote(url.password) if url.password else None,
        unquote(url.path.lstrip("/")) or unquote(url.username or "postgres"),
    )


def _with_database(dsn: str, database: str) -> str:
    url = urlsplit(dsn)
    return urlunsplit((url.scheme, url.netloc, "/" + database, url.query, url.fragment))


async def ensure_database(admin_dsn: str) -> None:
    """Create the database of DATABASE_ADMIN_URL when it does not exist yet (a fresh server)."""
    database = dsn_parts(admin_dsn).database
    try:
        conn = await asyncpg.connect(admin_dsn)
    except asyncpg.InvalidCatalogNameError:
        maintenance = await asyncpg.connect(_with_database(admin_dsn, "postgres"))
        try:
            await maintenance.execute(f'CREATE DATABASE "{database}"')
        finally:
            await maintenance.close()
    else:
        await conn.close()


async def migrate(admin_dsn: str, service_dsn: str | None = None, readonly_dsn: str | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    await ensure_database(admin_dsn)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            version = path.stem
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
        if service_dsn:
            await provision_service_role(conn, service_dsn)
        if readonly_dsn:
            await provision_readonly_role(conn, readonly_dsn, service_dsn)
        return applied
    finally:
        await conn.close()


async def provision_service_role(conn: asyncpg.Connection, service_dsn: str) -> None:
    parts = dsn_parts(service_dsn)
    owner = await conn.fetchval("SELECT current_user")
    if parts.user == owner:
        raise MigrationError(
            f"DATABASE_URL connects as {owner!r}, the owner of the tables, which bypasses row-level security; "
            "use another role there (for example postgresql://bizosaas_app:bizosaas_app@HOST/DB)"
        )
    await _create_login_role(conn, parts, "NOINHERIT")
    grants = await conn.fetchval(
        """SELECT format('GRANT CONNECT ON DATABASE %1$I TO %2$I; GRANT USAGE ON SCHEMA public TO %2$I;
                  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %2$I;
                  REVOKE ALL ON schema_migrations FROM %2$I;
                  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %2$I;
                  GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %2$I;
                  REVOKE EXECUTE ON FUNCTION enable_tenant_isolation(regclass) FROM %2$I;
                  REVOKE EXECUTE ON FUNCTION tenant_id_check(regclass, text) FROM %2$I;
                  REVOKE SELECT, UPDATE, DELETE ON erasures FROM %2$I',
                  current_database(), $1::text)""",
        parts.user,
    )
    await conn.execute(grants)
    bypass = await conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1", parts.user)
    if bypass:
        raise MigrationError(f"role {parts.user!r} is a superuser or may bypass row-level security; it must not")


async def provision_readonly_role(conn: asyncpg.Connection, readonly_dsn: str, service_dsn: str | None) -> None:
    """The operators' archive reader: a login role that inherits `bizosaas_archive_reader` and holds nothing else."""
    parts = dsn_parts(readonly_dsn)
    owner = await conn.fetchval("SELECT current_user")
    if parts.user in (owner, dsn_parts(service_dsn).user if service_dsn else None):
        raise MigrationError(
            f"BIZOSAAS_DATABASE_READONLY_URL connects as {parts.user!r}, which may write; give it a role of its own "
            "(for example postgresql://bizosaas_readonly:PASSWORD@HOST/DB)"
        )
    await _create_login_role(conn, parts, "INHERIT")
    statement = await conn.fetchval(
        """SELECT format('GRANT CONNECT ON DATABASE %1$I TO %2$I; GRANT USAGE ON SCHEMA public TO %2$I;
                  GRANT bizosaas_archive_reader TO %2$I; ALTER ROLE %2$I SET default_transaction_read_only = on',
                  current_database(), $1::text)""",
        parts.user,
    )
    await conn.execute(statement)
    row = await conn.fetchrow(
        "SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb AS power FROM pg_roles WHERE rolname = $1",
        parts.user,
    )
    if row["power"]:
        raise MigrationError(
            f"role {parts.user!r} is a superuser or may bypass row-level security, create roles "
            "or databases; a read-only role must not"
        )


async def _create_login_role(conn: asyncpg.Connection, parts: DsnParts, inherit: str) -> None:
    if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", parts.user):
        return
    statement = await conn.fetchval(
        f"SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE {inherit} PASSWORD %L', "
        "$1::text, $2::text)",
        parts.user,
        parts.password,
    )
    await conn.execute(statement)

"""Apply the plain SQL migrations in `db/migrations/` with the owner connection, and provision the service role.

Versioned (one row per applied file in `schema_migrations`), idempotent, serialized by an advisory lock. The service
role named in DATABASE_URL is created when missing and granted exactly table DML: it owns nothing, so row-level
security applies to it, and it is not a member of the owner role, so it cannot SET ROLE out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x62697a6f  # "bizo": one migrator at a time


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class DsnParts:
    user: str
    password: str | None
    database: str


def dsn_parts(dsn: str) -> DsnParts:
    url = urlsplit(dsn)
    return DsnParts(unquote(url.username or ""), unquote(url.password) if url.password else None,
                    unquote(url.path.lstrip("/")) or unquote(url.username or "postgres"))


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


async def migrate(admin_dsn: str, service_dsn: str | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    await ensure_database(admin_dsn)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
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
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", parts.user)
    if not exists:
        statement = await conn.fetchval(
            "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', $1::text, $2::text)",
            parts.user, parts.password,
        )
        await conn.execute(statement)
    grants = await conn.fetchval(
        """SELECT format('GRANT CONNECT ON DATABASE %1$I TO %2$I; GRANT USAGE ON SCHEMA public TO %2$I;
                  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %2$I;
                  REVOKE ALL ON schema_migrations FROM %2$I;
                  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %2$I;
                  GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %2$I;
                  REVOKE EXECUTE ON FUNCTION enable_tenant_isolation(regclass) FROM %2$I',
                  current_database(), $1::text)""",
        parts.user,
    )
    await conn.execute(grants)
    bypass = await conn.fetchval("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1", parts.user)
    if bypass:
        raise MigrationError(f"role {parts.user!r} is a superuser or may bypass row-level security; it must not")

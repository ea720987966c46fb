"""`bizosaas migrate`: apply the SQL migrations with DATABASE_ADMIN_URL; provision the roles of DATABASE_URL and
BIZOSAAS_DATABASE_READONLY_URL."""

from __future__ import annotations

import argparse

import asyncpg

from bizosaas.settings import Settings
from db.migrate import MigrationError, migrate


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("migrate", help="apply database migrations (uses DATABASE_ADMIN_URL)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        applied = await migrate(settings.database_admin_url, settings.database_url, settings.database_readonly_url)
    except (OSError, asyncpg.PostgresError, MigrationError) as exc:
        print(
            f"bizosaas migrate: {exc}\n  (DATABASE_ADMIN_URL={_redact(settings.database_admin_url)}; set it to the "
            "owner's connection URL of a Postgres with pgvector)"
        )
        return 1
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}; database is current")
    return 0


def _redact(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"

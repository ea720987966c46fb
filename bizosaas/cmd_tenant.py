"""`bizosaas tenant create NAME [--json]`: create a tenant and print its first API key (shown this once)."""

from __future__ import annotations

import argparse
import json

import asyncpg

from bizosaas.settings import Settings
from db.pool import create_pool
from gateway.tenancy import create_tenant


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tenant", help="manage tenants")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a tenant and print its first admin API key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help='print {"id": ..., "api_key": ...}')
    create.set_defaults(run=run_create)


async def run_create(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        pool = await create_pool(settings.database_url, max_size=1)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"bizosaas tenant create: cannot reach DATABASE_URL: {exc}")
        return 1
    try:
        created = await create_tenant(pool, args.name)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps({"id": created.id, "api_key": created.api_key}))
    else:
        print(f"tenant {created.id} ({created.name}) created\n"
              f"admin API key (shown once, store it now): {created.api_key}")
    return 0

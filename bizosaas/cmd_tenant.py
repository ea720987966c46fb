"""`bizosaas tenant create NAME [--json]`: create a tenant and print its first API key (shown this once).
`bizosaas tenant erase T --yes` / `bizosaas tenant erase T --email E | --external-id ID [--source C]`: erase a
tenant, or one person within it, everywhere the platform keeps data (bizosaas/erasure.py).
`bizosaas tenant bill T SUBSCRIPTION [--from DAY]`: bill tenant T's usage to this Lago subscription (its
external_subscription_id) from DAY on (default today); the `usage-push` schedule sends it (connectors/usage_push.py)."""

from __future__ import annotations

import argparse
import getpass
import json
import re
from datetime import date

import asyncpg

from bizosaas.settings import Settings
from db.pool import create_pool, tenant_transaction
from gateway.tenancy import create_tenant


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tenant", help="manage tenants")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a tenant and print its first admin API key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help='print {"id": ..., "api_key": ...}')
    create.set_defaults(run=run_create)
    erase = actions.add_parser(
        "erase", help="erase a tenant (--yes), or one person in it (--email / --external-id), everywhere"
    )
    erase.add_argument("tenant")
    who = erase.add_mutually_exclusive_group()
    who.add_argument("--email", help="erase the person with this email (contacts, leads, orders, comments naming it)")
    who.add_argument("--external-id", help="erase the person with this provider id (a contact's or lead's id)")
    erase.add_argument("--source", help="only the records of this connector id (with --email / --external-id)")
    erase.add_argument("--yes", action="store_true", help="confirm erasing the whole tenant")
    erase.add_argument("--by", default="", help="who asks, recorded with the erasure (default: the OS user)")
    erase.add_argument("--json", action="store_true", help='print {"id": ..., "counts": {...}}')
    erase.set_defaults(run=run_erase)
    bill = actions.add_parser("bill", help="push a tenant's usage to this Lago subscription (the platform's billing)")
    bill.add_argument("tenant")
    bill.add_argument("subscription", help="the Lago subscription's external_subscription_id")
    bill.add_argument("--from", dest="billed_from", type=date.fromisoformat, help="first billed day (default today)")
    bill.set_defaults(run=run_bill)


async def run_bill(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        async with tenant_transaction(pool, args.tenant) as conn:
            if not await conn.fetchval("SELECT count(*) FROM tenants WHERE id = $1", args.tenant):
                print(f"bizosaas tenant bill: no tenant {args.tenant}")
                return 1
            await conn.execute(
                """INSERT INTO billing_accounts (tenant_id, lago_subscription_id, billed_from)
                   VALUES (current_setting('app.tenant_id'), $1, coalesce($2, current_date))
                   ON CONFLICT (tenant_id) DO UPDATE SET lago_subscription_id = $1,
                     billed_from = coalesce($2, billing_accounts.billed_from), updated_at = now()""",
                args.subscription,
                args.billed_from,
            )
    finally:
        await pool.close()
    print(f"tenant {args.tenant}: usage billed to Lago subscription {args.subscription}")
    return 0


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
        print(
            f"tenant {created.id} ({created.name}) created\nadmin API key (shown once, store it now): {created.api_key}"
        )
    return 0


async def run_erase(args: argparse.Namespace) -> int:
    from bizosaas.erasure import erase_person, erase_tenant
    from connectors.credentials import SecretsUnavailable

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", args.tenant):
        print(f"bizosaas tenant erase: {args.tenant!r} is not a tenant id (ten_...: see `bizosaas status`)")
        return 2
    person = args.email is not None or args.external_id is not None
    if not person and not args.yes:
        print(
            f"bizosaas tenant erase: this deletes every piece of data of tenant {args.tenant}; "
            "add --yes to confirm, or --email / --external-id to erase one person"
        )
        return 2
    if args.source and not person:
        print("bizosaas tenant erase: --source narrows a person's erasure; add --email or --external-id")
        return 2
    settings = Settings.from_env()
    by = args.by or getpass.getuser()
    try:
        if person:
            done = await erase_person(settings, args.tenant, by, args.email, args.external_id, args.source)
        else:
            done = await erase_tenant(settings, args.tenant, by)
    except (OSError, asyncpg.PostgresError, SecretsUnavailable) as exc:
        print(
            f"bizosaas tenant erase: {type(exc).__name__}: {exc}; check DATABASE_URL, REDIS_URL and VAULT_ADDR, "
            "then run it again (erasing twice is safe)"
        )
        return 1
    if args.json:
        print(json.dumps({"id": done.id, "counts": done.counts}, sort_keys=True))
    else:
        what = "person" if person else "tenant"
        places = ", ".join(f"{place} {n}" for place, n in sorted(done.counts.items())) or "nothing found"
        print(f"erased {what} of {args.tenant} ({places}); recorded as erasure {done.id}")
    return 0

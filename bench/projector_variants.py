"""What one projector batch costs, by batch size, for the current handler and prototypes of cheaper ones.

    .venv/bin/python bench/projector_variants.py [--quick]

`current` is the projector's handler as it is (one call to `project_events()` per batch, one statement for all its
tenants: migrations 0039 and 0045). The first version made 3 round trips per tenant in a batch (set the RLS tenant,
archive, upsert) plus BEGIN and COMMIT: at low load, when a partition's batch holds one or two events, those round
trips were most of the cost.
Prototypes measured here (NOT used by the platform; proposals for consumers/projector.py, see docs/benchmarks.md):
- `cte`: archive and upsert in one statement per tenant (a data-modifying CTE; the "already archived" filter and the
  newest-per-entity choice move into SQL): 2 round trips per tenant, no migration needed.
- `function`: one call per batch to a PL/pgSQL function, SECURITY INVOKER (row-level security applies as to the
  service role), that sets the tenant before each tenant's slice and runs the same CTE: 1 round trip per batch,
  atomic without BEGIN/COMMIT. Needs a migration.
- `one_statement`: the whole batch in one statement, no tenant switching: what a projector role that a policy
  admits for every tenant's rows could do (a security decision, not a refactoring); run as the table owner here.
Each variant handles the same entries of one partition and must end in the same `records` rows as the current
handler (also after every event is delivered a second time). Figures are CPU time per event of
this process (the client) and of the Postgres server, so they hold up on a shared machine better than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
import msgspec  # noqa: E402
from probes import children, cpu_s  # noqa: E402
from realistic_events import Traffic  # noqa: E402

from bizosaas.servers import start_postgres  # noqa: E402
from consumers.entry import Entry  # noqa: E402
from consumers.group import Batch  # noqa: E402
from consumers.projector import UPSERT_SQL, _amount, _title, projector_group  # noqa: E402
from db.migrate import migrate  # noqa: E402
from db.pool import create_pool, set_tenant  # noqa: E402
from events import codec  # noqa: E402
from events.ids import opaque_id  # noqa: E402
from events.streams import stream_for_tenant  # noqa: E402
from events.types import EntityDeleted, EntityUpserted  # noqa: E402

ARGS = "t, i, ty, so, sk, si, oc, rc, st, ms, sq, b, rid, pv, stat, ti, am, cu, de, d, rp"
TYPES = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "int8",
    "int8",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int8",
    "text",
    "bool",
    "text",
    "bool",
]
# one tenant's entries (arrays $1..$21, or the function's slices) -> event_log, and the newest fresh (or
# replayed) state per entity -> records, under the projector's ordering rule
PROJECT_CTE = """
WITH batch AS (SELECT * FROM unnest({arrays}) AS e({args})),
fresh AS (
    INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at,
                           stream, stream_ms, stream_seq, body)
    SELECT t, i, ty, so, sk, si, oc, rc, st, ms, sq, b::jsonb FROM batch
    ON CONFLICT DO NOTHING
    RETURNING id
),
newest AS (
    SELECT DISTINCT ON (t, sk, so, si) * FROM batch
    WHERE rid IS NOT NULL AND (rp OR i IN (SELECT id FROM fresh))
    ORDER BY t, sk, so, si, oc DESC, ms DESC, sq DESC
)
INSERT INTO records AS r (tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency,
                          updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq)
SELECT t, sk, so, si, rid, pv, stat, ti, am, cu, oc, rc, de, d::jsonb, i, ms, sq FROM newest
""" + UPSERT_SQL[UPSERT_SQL.index("ON CONFLICT") :]  # the projector's own conflict clause and ordering rule
CTE_SQL = PROJECT_CTE.format(arrays=", ".join(f"${n}::{t}[]" for n, t in enumerate(TYPES, 1)), args=ARGS)
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION bench_project_events(
    {", ".join(f"p_{a} {t}[]" for a, t in zip(ARGS.split(", "), TYPES))}, tenants text[], lo int[], hi int[])
RETURNS void LANGUAGE plpgsql SECURITY INVOKER AS $fn$
DECLARE k int; a int; z int;
BEGIN
    FOR k IN 1 .. coalesce(array_length(tenants, 1), 0) LOOP
        PERFORM set_config('app.tenant_id', tenants[k], true);
        a := lo[k]; z := hi[k];
        {PROJECT_CTE.format(arrays=", ".join(f"p_{x}[a:z]" for x in ARGS.split(", ")), args=ARGS).strip()};
    END LOOP;
END $fn$;
GRANT EXECUTE ON FUNCTION bench_project_events TO PUBLIC;
"""
CALL_SQL = "SELECT bench_project_events(" + ", ".join(f"${n}" for n in range(1, 25)) + ")"
_encode = msgspec.json.Encoder().encode


def row(d: Entry) -> tuple:
    """Archive and record columns of one entry (record columns NULL for a non-entity event)."""
    e, (ms, sq) = d.message, d.position
    entity = isinstance(e, (EntityUpserted, EntityDeleted))
    data, kind = e.data if entity else None, e.subject.kind
    return (
        e.tenant_id,
        e.id,
        e.type,
        e.source,
        kind,
        e.subject.external_id,
        e.occurred_at,
        e.recorded_at,
        d.origin_stream,
        ms,
        sq,
        d.raw.decode(),
        opaque_id("rec", e.tenant_id, kind, e.source, e.subject.external_id) if entity else None,
        e.provider,
        getattr(data, "status", None) or None,
        _title(kind, data),
        _amount(data),
        getattr(data, "currency", None),
        isinstance(e, EntityDeleted),
        _encode(data).decode() if data is not None else "{}",
        d.replayed,
    )


def current(pool: asyncpg.Pool, partitions: int) -> Callable[[list[Entry]], Awaitable[object]]:
    """The projector group as the runtime runs it: one transaction, its per-tenant handler (Group.process)."""
    return projector_group(pool, partitions).process


def cte(pool: asyncpg.Pool, partitions: int) -> Callable[[list[Entry]], Awaitable[None]]:
    async def handle(batch: list[Entry]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for tenant, entries in Batch(batch).by_tenant():
                await set_tenant(conn, tenant)
                await conn.execute(CTE_SQL, *map(list, zip(*map(row, entries))))

    return handle


def function(pool: asyncpg.Pool, partitions: int) -> Callable[[list[Entry]], Awaitable[None]]:
    async def handle(batch: list[Entry]) -> None:
        rows, tenants, lo, hi = [], [], [], []
        for tenant, entries in Batch(batch).by_tenant():
            tenants.append(tenant)
            lo.append(len(rows) + 1)
            rows += map(row, entries)
            hi.append(len(rows))
        async with pool.acquire() as conn:  # one statement: its own transaction
            await conn.execute(CALL_SQL, *map(list, zip(*rows)), tenants, lo, hi)

    return handle


def one_statement(pool: asyncpg.Pool, partitions: int) -> Callable[[list[Entry]], Awaitable[None]]:
    """The whole batch, all tenants, in one statement: what a role that a policy admits for every tenant's rows
    could do (DESIGN.md allows "a separate role that a policy admits for its own tables"). Measured here on the
    owner's connection, which row-level security does not restrict."""

    async def handle(batch: list[Entry]) -> None:
        async with pool.acquire() as conn:
            await conn.execute(CTE_SQL, *map(list, zip(*map(row, sorted(batch, key=lambda d: d.message.tenant_id)))))

    return handle


# name -> (handler factory, the role its pool connects as)
VARIANTS = {
    "current": (current, "service"),
    "cte": (cte, "service"),
    "function": (function, "service"),
    "one_statement": (one_statement, "owner"),
}
BUSINESS = (
    "tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, "
    "recorded_at, deleted, data, event_id, stream_ms, stream_seq"
)


async def run(events: int, rounds: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix="bizosaas-variants-"))
    pg = start_postgres(base / "pg")
    try:
        admin_url = pg.url.rsplit("/", 1)[0] + "/variants"
        await migrate(admin_url, f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/variants")
        admin = await asyncpg.connect(admin_url)
        await admin.execute(FUNCTION_SQL)
        pools = {
            "service": await create_pool(f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/variants", max_size=1),
            "owner": await create_pool(admin_url, max_size=1),
        }
        partitions: dict[str, list[Entry]] = {}
        for n, event in enumerate(Traffic().events(events)):
            stream = stream_for_tenant(event.tenant_id)
            partitions.setdefault(stream, []).append(
                Entry(stream, f"{n}-0", codec.encode(event), event, stream, (1_000 + n, 0))
            )
        stream, entries = max(partitions.items(), key=lambda kv: len(kv[1]))
        print(f"{len(entries):,} entries of {stream}, {len({d.message.tenant_id for d in entries})} tenants")

        def postgres_cpu() -> float:
            return cpu_s(pg.proc.pid, with_reaped_children=True) + sum(cpu_s(p) for p in children(pg.proc.pid))

        result: dict = {}
        for size, count in ((1, 1500), (2, 2000), (20, 4000), (40, 4000), (500, len(entries))):
            batches = [entries[i : i + size] for i in range(0, min(count, len(entries)), size)]
            n = sum(map(len, batches))
            for _ in range(rounds):
                for name, (factory, role) in VARIANTS.items():
                    await admin.execute("TRUNCATE event_log, records")
                    handle = factory(pools[role], 8)
                    server, client, wall = postgres_cpu(), time.process_time(), time.perf_counter()
                    for batch in batches:
                        await handle(batch)
                    got = {
                        "client_us": 1e6 * (time.process_time() - client) / n,
                        "postgres_us": 1e6 * (postgres_cpu() - server) / n,
                        "wall_us": 1e6 * (time.perf_counter() - wall) / n,
                    }
                    best = result.setdefault(f"batch_{size}", {}).setdefault(name, got)
                    result[f"batch_{size}"][name] = {k: round(min(best[k], got[k]), 1) for k in got}
            for name, cost in result[f"batch_{size}"].items():
                print(
                    f"batch {size:3d} {name:13s}: per event client {cost['client_us']:6.1f} µs, postgres "
                    f"{cost['postgres_us']:6.1f} µs, wall {cost['wall_us']:6.1f} µs (best of {rounds})"
                )
        states = {}
        for name, (factory, role) in VARIANTS.items():  # the whole partition in odd batches, then all again
            await admin.execute("TRUNCATE event_log, records")
            handle = factory(pools[role], 8)
            for size in (137, 300):
                for i in range(0, len(entries), size):
                    await handle(entries[i : i + size])
            states[name] = [tuple(r) for r in await admin.fetch(f"SELECT {BUSINESS} FROM records ORDER BY 1, 2, 3, 4")]
        result["same_records"] = {name: states[name] == states["current"] for name in VARIANTS}
        print(f"same records as the current handler: {result['same_records']}")
        for pool in pools.values():
            await pool.close()
        await admin.close()
        return result
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and one round")
    args = parser.parse_args()
    result = asyncio.run(run(events=20_000 if args.quick else 40_000, rounds=1 if args.quick else 3))
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()

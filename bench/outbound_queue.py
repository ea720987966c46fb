"""Postgres' CPU per outbound attempt: what its three writes cost the database backend that runs them.

    .venv/bin/python bench/outbound_queue.py [--batches 24] [--rounds 3]

Starts its own Postgres+pgvector (bizosaas.servers, in a temp folder), migrates, makes one tenant with 100
subscriptions, then per batch does what the platform does for 25 events (2,500 attempts, 442-byte bodies like
bench/outbound.py's orders): the `outbound` group's insert (consumers/outbound.py), the dispatcher's claims of 500 at
a time (consumers/outbound_claims.py) and its delivered writes of ~330 (consumers/outbound_outcomes.py). The CPU
is the backend's own (utime + stime from /proc, read between statements), so the client's work is not in it; the
client's CPU for the insert (building its arguments, encoding them, reading the answer) is reported apart.
The peer, in the same run on a second database: the insert as it was before migration 0042's change (a join that
looks the subscription up once per row) and before each event's body was sent once for all its attempts.
Rounds alternate the two; one JSON line per round, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
from probes import cpu_s  # noqa: E402

from bizosaas.servers import start_postgres  # noqa: E402
from consumers.outbound import INSERT_ATTEMPTS, insert_arguments  # noqa: E402
from consumers.outbound_claims import CLAIM  # noqa: E402
from consumers.outbound_outcomes import WRITE_DELIVERED  # noqa: E402
from db.migrate import migrate  # noqa: E402
from events.ids import new_id  # noqa: E402

HOOKS = [f"hook_{i:03d}" for i in range(100)]
EVENTS_PER_BATCH = 25  # consumers/outbound.py MAX_BATCH_EVENTS
BODY = "x" * 442
PER_ROW_JOIN = """
INSERT INTO hook_attempts (tenant_id, id, hook_id, event_id, event_type, body)
SELECT current_setting('app.tenant_id'), x.id, x.hook_id, x.event_id, x.event_type, x.body
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(id, hook_id, event_id, event_type, body)
JOIN hook_subscriptions s ON s.id = x.hook_id AND s.enabled
ON CONFLICT (tenant_id, hook_id, event_id) DO NOTHING
"""


async def database(pg_url: str, port: int, name: str) -> asyncpg.Connection:
    admin_url = pg_url.rsplit("/", 1)[0] + "/" + name
    await migrate(admin_url, f"postgresql://bizosaas_app:bench@127.0.0.1:{port}/{name}")
    admin = await asyncpg.connect(admin_url)
    await admin.execute("INSERT INTO tenants (id, name) VALUES ('t', 't')")
    await admin.executemany(
        "INSERT INTO hook_subscriptions (tenant_id, id, target_url, event_types) VALUES ('t', $1, 'https://x.test/', "
        "'{commerce.order.*}')",
        [(h,) for h in HOOKS],
    )
    await admin.close()
    return await asyncpg.connect(f"postgresql://bizosaas_app:bench@127.0.0.1:{port}/{name}")


async def in_tenant(conn: asyncpg.Connection, sql: str, *args) -> list:
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', 't', true)")
        return await conn.fetch(sql, *args)


async def measure(conn: asyncpg.Connection, insert_sql: str, batches: int) -> dict:
    """Backend CPU per attempt (µs) of each write, over `batches` batches."""
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    spent = {"insert": 0.0, "claim": 0.0, "delivered": 0.0, "client_insert": 0.0}
    attempts = 0
    for _ in range(batches):
        events = [(new_id(), "commerce.order.upserted.v2", BODY, HOOKS) for _ in range(EVENTS_PER_BATCH)]
        client_before = time.process_time()
        if insert_sql == INSERT_ATTEMPTS:
            arguments = insert_arguments(events, HOOKS)
        else:  # the peer: a row per attempt, each with its event's id, type and body
            rows = [("att_" + new_id(), h, event_id, type_, body) for event_id, type_, body, _ in events for h in HOOKS]
            arguments = tuple(map(list, zip(*rows)))
        before = cpu_s(backend)
        await in_tenant(conn, insert_sql, *arguments)
        spent["client_insert"] += time.process_time() - client_before  # the group's side: arguments, encoding
        spent["insert"] += cpu_s(backend) - before
        while True:
            before = cpu_s(backend)
            claimed = await in_tenant(conn, CLAIM, 500, 60.0, 16, [], [])
            spent["claim"] += cpu_s(backend) - before
            if not claimed:
                break
            for i in range(0, len(claimed), 330):
                part = claimed[i : i + 330]
                before = cpu_s(backend)
                await in_tenant(
                    conn,
                    WRITE_DELIVERED,
                    [r["hook_id"] for r in part],
                    [r["id"] for r in part],
                    [204] * len(part),
                    sorted({r["hook_id"] for r in part}),
                )
                spent["delivered"] += cpu_s(backend) - before
        attempts += len(arguments[0])
    return {k: round(v / attempts * 1e6, 1) for k, v in spent.items()} | {"attempts": attempts}


async def run(args: argparse.Namespace) -> dict:
    pg = start_postgres(Path(tempfile.mkdtemp(prefix="bizosaas-bench-queue-")) / "pg")
    try:
        ours = await database(pg.url, pg.port, "queue_ours")
        peer = await database(pg.url, pg.port, "queue_peer")
        results: dict[str, list[dict]] = {"ours": [], "per_row_join": []}
        for round_ in range(args.rounds):
            results["ours"].append(await measure(ours, INSERT_ATTEMPTS, args.batches))
            results["per_row_join"].append(await measure(peer, PER_ROW_JOIN, args.batches))
            print(json.dumps({"round": round_ + 1, **{k: v[-1] for k, v in results.items()}}), flush=True)
        await ours.close()
        await peer.close()
    finally:
        pg.stop()
    median = {
        side: {k: statistics.median(r[k] for r in rounds) for k in ("insert", "claim", "delivered", "client_insert")}
        for side, rounds in results.items()
    }
    return {
        "unit": "backend CPU µs per attempt (median of rounds)",
        "ours": median["ours"],
        "per_row_join": median["per_row_join"],
        "insert_ratio_to_peer": round(median["ours"]["insert"] / median["per_row_join"]["insert"], 3),
        "client_insert_ratio_to_peer": round(
            median["ours"]["client_insert"] / median["per_row_join"]["client_insert"], 3
        ),
        "total_us": round(sum(v for k, v in median["ours"].items() if k != "client_insert"), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=24, help="batches of 2,500 attempts per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

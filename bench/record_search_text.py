"""Postgres' CPU per written record for `records.search_text`, the stored generated column of record search.

    .venv/bin/python bench/record_search_text.py [--rows 60000] [--rounds 3]

Starts its own Postgres (bizosaas.servers, in a temp folder) and writes the same rows (contacts, leads, companies,
products, orders of one to four lines, and a kind without search text: a sixth each) into three scratch tables that
differ only in that column:
- `inlined`: computed by `record_search_text` as migration 0048 defines it (what the platform runs);
- `0031`, the peer: the function as migration 0031 defined it (a SET clause and a subquery, so never inlined);
- `none`, the raw limit: no such column at all.
The CPU is the backend's own (utime + stime from /proc, read around each `INSERT ... SELECT`). Rounds alternate the
three; one JSON line per round, then the medians. The run also checks that both functions give the same text for
every row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
from probes import cpu_s  # noqa: E402

from bizosaas.servers import start_postgres  # noqa: E402

MIGRATIONS = ROOT / "db" / "migrations"
OLD_NAME = "record_search_text_0031"


def function_0031() -> str:
    """Migration 0031's `CREATE FUNCTION record_search_text`, renamed so it stands beside the current one."""
    text = (MIGRATIONS / "0031_record_search.sql").read_text()
    start = text.index("CREATE FUNCTION record_search_text")
    return text[start : text.index("$$;", start) + 3].replace("record_search_text", OLD_NAME, 1)


def sample_rows(n: int) -> list[tuple[str, str]]:
    rnd = random.Random(1)
    rows = []
    for i in range(n):
        match i % 6:
            case 0:
                kind, data = "contact", {"first_name": f"Ann{i}", "last_name": "Smith", "email": f"ann{i}@example.com"}
            case 1:
                lines = [{"sku": f"SKU-{j}", "name": f"Thing {j}", "qty": 1} for j in range(rnd.randint(1, 4))]
                kind, data = (
                    "order",
                    {"number": str(1000 + i), "customer_email": f"c{i}@example.com", "line_items": lines},
                )
            case 2:
                kind, data = "product", {"sku": f"SKU-{i}", "name": f"Widget {i}", "price_minor": 1250}
            case 3:
                kind, data = "company", {"name": f"Company {i}", "domain": f"co{i}.example"}
            case 4:
                kind, data = "lead", {"name": f"Lead {i}", "email": f"lead{i}@example.com", "company": "Acme"}
            case _:
                kind, data = "ticket", {"subject": f"Question {i}", "status": "open"}
        rows.append((kind, json.dumps(data)))
    return rows


async def prepare(conn: asyncpg.Connection, rows: list[tuple[str, str]]) -> None:
    current = (MIGRATIONS / "0048_record_search_text_inlined.sql").read_text()
    await conn.execute(current.replace("CREATE OR REPLACE", "CREATE"))
    await conn.execute(function_0031())
    await conn.execute("CREATE TABLE source (kind text, data jsonb)")
    await conn.executemany("INSERT INTO source VALUES ($1, $2::jsonb)", rows)
    await conn.execute("""
        CREATE TABLE t_inlined (kind text, data jsonb,
                                search_text text GENERATED ALWAYS AS (record_search_text(kind, data)) STORED);
        CREATE TABLE t_0031 (kind text, data jsonb,
                             search_text text GENERATED ALWAYS AS (record_search_text_0031(kind, data)) STORED);
        CREATE TABLE t_none (kind text, data jsonb)""")


async def measure(conn: asyncpg.Connection, table: str, backend: int, rows: int) -> float:
    """Backend CPU µs per row of one `INSERT ... SELECT` of every source row."""
    await conn.execute(f"TRUNCATE {table}")
    before = cpu_s(backend)
    await conn.execute(f"INSERT INTO {table} (kind, data) SELECT kind, data FROM source")
    return round((cpu_s(backend) - before) / rows * 1e6, 2)


async def run(args: argparse.Namespace) -> dict:
    pg = start_postgres(Path(tempfile.mkdtemp(prefix="bizosaas-bench-search-text-")) / "pg")
    try:
        conn = await asyncpg.connect(pg.url)
        await prepare(conn, sample_rows(args.rows))
        differing = await conn.fetchval(
            f"SELECT count(*) FROM source WHERE record_search_text(kind, data) IS DISTINCT FROM {OLD_NAME}(kind, data)"
        )
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        sides = {"inlined": [], "0031": [], "none": []}
        for round_ in range(args.rounds):
            for side, values in sides.items():
                values.append(await measure(conn, f"t_{side}", backend, args.rows))
            print(json.dumps({"round": round_ + 1, **{k: v[-1] for k, v in sides.items()}}), flush=True)
        await conn.close()
    finally:
        pg.stop()
    median = {side: statistics.median(values) for side, values in sides.items()}
    column = {side: round(median[side] - median["none"], 2) for side in ("inlined", "0031")}
    return {
        "unit": "backend CPU µs per inserted row (median of rounds)",
        "rows": args.rows,
        **median,
        "column_us": column,
        "column_ratio_to_0031": round(column["inlined"] / column["0031"], 3),
        "differing_texts": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

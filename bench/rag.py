"""RAG benchmark: the indexer against the model's raw encode rate, freshness, and search over many chunks.

    .venv/bin/python bench/rag.py [--quick]

Starts its own Redis and Postgres+pgvector (bizosaas.servers, in a temp folder), migrates, and measures in one run,
on real embeddings (the packaged all-MiniLM-L6-v2) of real text that ships on this machine (bench/rag_corpus.py):
  1. the model's raw encode rate on exactly the chunks the indexer will make (encode() over the chunk texts, batch
     64, measured before and after step 2 on a machine that may be shared: the mean is the reference), then the
     indexer group end to end: post events published across 10 tenants before it starts, the group (the production
     runtime, in this process) draining them: chunks committed per second;
  2. freshness at idle: one event at a time, publish -> its chunks searchable, minus the time the model took for
     that event's own batch;
  3. search: the corpus grown to N chunks in 10 tenants through the indexer's pipeline (1% of each tenant's rows of
     kind `task`), then queries (real sentences) per mode through row-level security as the service role: latency
     of the search statement (query embedding reported apart), recall@10 of HNSW against an exact scan, unfiltered
     and under the 1% kind filter.
Ends with one JSON line (also written to bench/results/rag-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from probes import CpuMeter, machine_busy_s  # noqa: E402
from rag_corpus import Text, docstrings, python_topics  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bizosaas.servers import start_postgres, start_redis  # noqa: E402
from consumers.indexer import indexer_group  # noqa: E402
from consumers.runtime import Runtime, RuntimeConfig  # noqa: E402
from db.migrate import migrate  # noqa: E402
from db.pool import create_pool, tenant_transaction  # noqa: E402
from events.ids import new_id  # noqa: E402
from events.streams import all_event_streams, as_text  # noqa: E402
from events.types import Post, PostUpserted, Subject, Task, TaskUpserted  # noqa: E402
from producers.publisher import Publisher  # noqa: E402
from rag.config import RagConfig  # noqa: E402
from rag.embedders import LocalEmbedder  # noqa: E402
from rag.indexes import active_index  # noqa: E402
from rag.pipeline import make_chunker  # noqa: E402
from rag.search import Filters, search  # noqa: E402
from rag.texts import TEXT_OF  # noqa: E402

TENANTS = [f"bench-{i}" for i in range(10)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# the indexer's own worker: small batches keep each embedding transaction short (docs/decisions.md)
INDEXER_RUNTIME = RuntimeConfig(batch_size=64, block_ms=1000, reclaim_idle_ms=600_000)


def say(line: str) -> None:
    print(line, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def post_event(tenant: str, external_id: str, text: Text, minute: int = 0, kind: str = "post"):
    when = T0 + timedelta(minutes=minute)
    envelope = dict(
        id=new_id(),
        tenant_id=tenant,
        source="bench",
        provider="wordpress",
        occurred_at=when,
        recorded_at=when,
        subject=Subject(kind=kind, external_id=external_id),
    )
    if kind == "task":
        return TaskUpserted(**envelope, data=Task(title=text.title, description=text.body))
    return PostUpserted(**envelope, data=Post(title=text.title, content=text.body, status="publish"))


async def drained(redis: Redis) -> bool:
    for stream in all_event_streams():
        if await redis.exists(stream):
            for info in await redis.xinfo_groups(stream):
                if as_text(info["name"]) == "indexer" and (info["pending"] or info["lag"]):
                    return False
    return True


def raw_rate(embedder: LocalEmbedder, chunks: list[str], meter: CpuMeter) -> tuple[float, float]:
    """(chunks/s, CPU ms per chunk of this process) of encode() alone."""
    before, started = meter.sample(), time.perf_counter()
    embedder.encode(chunks)
    elapsed, used = time.perf_counter() - started, CpuMeter.used(before, meter.sample())
    return len(chunks) / elapsed, used["bench"] * 1000 / len(chunks)


async def throughput(redis, pool, owner_pool, embedder, config, texts: list[Text], meter: CpuMeter) -> dict:
    events = [post_event(TENANTS[i % 10], f"e2e-{i}", t) for i, t in enumerate(texts)]
    chunker = make_chunker(embedder, config)
    chunk_texts = [c.text for e in events for c in chunker(TEXT_OF["post"](e.data))]
    tokens = embedder.count_tokens(chunk_texts)
    embedder.encode(chunk_texts[:64])  # warm-up
    raw_before, raw_cpu_before = raw_rate(embedder, chunk_texts, meter)
    say(f"raw encode: {len(chunk_texts)} chunks (mean {statistics.mean(tokens):.0f} tokens): {raw_before:.1f}/s")
    await Publisher(redis).publish(events)
    runtime = Runtime(redis, [indexer_group(pool, 8, config, embedder)], INDEXER_RUNTIME)
    calls, encoded, busy_before = embedder.calls, embedder.texts_encoded, embedder.encode_seconds
    started, cpu_before, machine_before = time.perf_counter(), meter.sample(), machine_busy_s()
    task = asyncio.create_task(runtime.run())
    while not await drained(redis):  # noqa: ASYNC110 - polling Redis, another process's state
        await asyncio.sleep(0.02)
    elapsed, used, machine = time.perf_counter() - started, CpuMeter.used(cpu_before, meter.sample()), machine_busy_s()
    ours = used["bench"] + used["postgres"] + used["redis"]
    others = max(0.0, machine - machine_before - ours) / (elapsed * (os.cpu_count() or 2))
    written = await pool_count(owner_pool, "SELECT count(*) FROM rag_chunks")
    e2e = written / elapsed
    busy, calls, encoded = (
        embedder.encode_seconds - busy_before,
        embedder.calls - calls,
        embedder.texts_encoded - encoded,
    )
    say(
        f"indexer end to end: {written} chunks in {elapsed:.1f} s: {e2e:.1f}/s; the model was encoding "
        f"{100 * busy / elapsed:.1f}% of that time ({calls} calls, {encoded / busy:.1f}/s while encoding)"
    )
    raw_after, raw_cpu_after = await asyncio.to_thread(raw_rate, embedder, chunk_texts, meter)  # loop keeps going
    raw = (raw_before + raw_after) / 2
    raw_cpu, e2e_cpu = (raw_cpu_before + raw_cpu_after) / 2, ours * 1000 / written
    say(f"raw encode again: {raw_after:.1f}/s; reference {raw:.1f}/s; ratio {e2e / raw:.3f}")
    say(
        f"CPU per chunk: raw encode {raw_cpu:.1f} ms, indexer end to end {e2e_cpu:.1f} ms (this process "
        f"{used['bench']:.0f} s, Postgres {used['postgres']:.0f} s, Redis {used['redis']:.1f} s): CPU ratio "
        f"{raw_cpu / e2e_cpu:.3f}; other programs used {100 * others:.0f}% of the machine meanwhile"
    )
    return {
        "runtime": runtime,
        "task": task,
        "chunks": written,
        "expected": len(chunk_texts),
        "e2e": e2e,
        "busy": busy / elapsed,
        "encoding_rate": encoded / busy,
        "calls": calls,
        "raw_cpu": raw_cpu,
        "e2e_cpu": e2e_cpu,
        "others": others,
        "raw": raw,
        "raw_before": raw_before,
        "raw_after": raw_after,
        "tokens": statistics.mean(tokens),
    }


async def pool_count(pool, sql: str, *args) -> int:
    """Counts across tenants: the benchmark's owner pool (row-level security does not restrict the owner)."""
    async with pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def freshness(redis, owner_pool, embedder: LocalEmbedder, texts: list[Text]) -> list[float]:
    publisher = Publisher(redis)
    delays = []
    for i, text in enumerate(texts):
        await asyncio.sleep(0.3)  # idle between events
        event = post_event(TENANTS[i % 10], f"fresh-{i}", text, minute=1)
        busy = embedder.encode_seconds
        sent = time.monotonic()
        await publisher.publish([event])
        while not await pool_count(  # noqa: ASYNC110 - polling Postgres for the indexer's commit
            owner_pool, "SELECT count(*) FROM rag_entities WHERE external_id = $1", event.subject.external_id
        ):
            await asyncio.sleep(0.002)
        visible = time.monotonic()
        delays.append(visible - sent - (embedder.encode_seconds - busy))  # minus its own batch's encoding
    return delays


async def bulk_load(owner_pool, embedder, target: int) -> tuple[int, float]:
    """Grow the index to `target` chunks in 10 tenants: short docstring paragraphs, really embedded once each and
    shared out so that every text sits in about two tenants (a query's nearest neighbours then belong to other
    tenants too, which row-level security filters out: the hard case for a filtered HNSW scan). 1% of each tenant's
    rows are of kind `task`. Rows are copied in and the HNSW index rebuilt after: this phase is about search, the
    indexer's own throughput is step 1. Returns (unique texts, their encode rate)."""
    have = await pool_count(owner_pool, "SELECT count(*) FROM rag_chunks")
    per_tenant = max(0, target - have) // len(TENANTS)
    pool_texts = [
        " ".join(t.body.split("\n\n")[0].split()[:60])
        for t in docstrings(limit=max(per_tenant * len(TENANTS) // 5, 200), seed=11)
    ]
    started = time.perf_counter()
    vectors = await asyncio.to_thread(embedder.encode, pool_texts)
    rate = len(pool_texts) / (time.perf_counter() - started)
    say(f"  {len(pool_texts)} unique texts embedded at {rate:.0f}/s")
    rng = random.Random(17)
    chunks, entities = [], []
    for tenant in TENANTS:
        for n, i in enumerate(rng.sample(range(len(pool_texts)), min(per_tenant, len(pool_texts)))):
            kind, key = ("task" if n % 100 == 0 else "post"), f"bulk-{i}"
            chunks.append((tenant, 1, kind, "bench", key, 0, i.to_bytes(8, "big"), pool_texts[i], vectors[i], [], T0))
            entities.append((tenant, 1, kind, "bench", key, key, T0, 1, i, False, 1))
    async with owner_pool.acquire() as conn:
        await conn.execute("DROP INDEX rag_chunks_hnsw_1")
        await conn.copy_records_to_table(
            "rag_chunks",
            records=chunks,
            columns=[
                "tenant_id",
                "index_id",
                "kind",
                "source",
                "external_id",
                "chunk_no",
                "content_hash",
                "content",
                "embedding",
                "agents",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "rag_entities",
            records=entities,
            columns=[
                "tenant_id",
                "index_id",
                "kind",
                "source",
                "external_id",
                "title",
                "updated_at",
                "stream_ms",
                "stream_seq",
                "deleted",
                "chunks",
            ],
        )
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute(
            "CREATE INDEX rag_chunks_hnsw_1 ON rag_chunks USING hnsw ((embedding::vector(384)) "
            "vector_cosine_ops) WHERE index_id = 1"
        )
        say(f"  HNSW index over {have + len(chunks)} rows built in {time.perf_counter() - started:.1f} s")
    return len(pool_texts), rate


async def search_figures(service_pool, embedder, config, queries: list[str]) -> dict:
    timings: dict[str, list[float]] = {"vector": [], "hybrid": [], "keyword": []}
    embed_ms, recalls, filtered = [], [], []
    rng = random.Random(5)
    for query in queries:
        tenant = rng.choice(TENANTS)
        started = time.perf_counter()
        vector = (await embedder.embed([query]))[0]
        embed_ms.append((time.perf_counter() - started) * 1000)
        for mode in timings:
            async with tenant_transaction(service_pool, tenant) as conn:
                index = await active_index(conn)
                started = time.perf_counter()
                hits = await search(conn, index, query, vector, 10, mode, Filters(), config)
                timings[mode].append((time.perf_counter() - started) * 1000)
            if mode == "vector":
                recalls.append(await recall(service_pool, tenant, index, vector, hits, config, Filters()))
        async with tenant_transaction(service_pool, tenant) as conn:
            tasks = await search(conn, index, query, vector, 10, "vector", Filters(kinds=["task"]), config)
        filtered.append(await recall(service_pool, tenant, index, vector, tasks, config, Filters(kinds=["task"])))
    figures = {f"{m}_{p}_ms": round(pct(v, q), 2) for m, v in timings.items() for p, q in (("p50", 50), ("p95", 95))}
    figures.update(
        query_embed_p50_ms=round(pct(embed_ms, 50), 2),
        query_embed_p95_ms=round(pct(embed_ms, 95), 2),
        recall_at_10=round(statistics.mean(recalls), 4),
        filtered_recall_at_10=round(statistics.mean(filtered), 4),
    )
    return figures


async def recall(pool, tenant, index, vector, hits, config, filters: Filters) -> float:
    kinds = "AND kind = ANY($2::text[])" if filters.kinds else ""
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        rows = await conn.fetch(
            f"SELECT kind, source, external_id, chunk_no FROM rag_chunks WHERE index_id = "
            f"{index.id} {kinds} ORDER BY {index.vector_sql} <=> $1 LIMIT 10",
            vector,
            *([list(filters.kinds)] if filters.kinds else []),
        )
    exact = {tuple(r) for r in rows}
    found = {(h.kind, h.source, h.external_id, h.chunk_no) for h in hits}
    return len(exact & found) / len(exact) if exact else 1.0


async def run(args: argparse.Namespace) -> dict:
    load_at_start = round(os.getloadavg()[0], 2)  # the machine is shared: other work lowers every rate
    base = Path(tempfile.mkdtemp(prefix="bizosaas-bench-rag-"))
    redis_server, pg = start_redis(base / "redis"), start_postgres(base / "pg")
    admin_url = pg.url.rsplit("/", 1)[0] + "/bizosaas_bench"
    service_url = f"postgresql://bizosaas_app:bench@127.0.0.1:{pg.port}/bizosaas_bench"
    redis = Redis.from_url(redis_server.url)
    try:
        await migrate(admin_url, service_url)
        owner_pool = await create_pool(admin_url, max_size=4)
        service_pool = await create_pool(service_url, max_size=4)
        config = RagConfig()
        embedder = LocalEmbedder(batch_size=config.rag_embed_batch)
        say(f"corpus: Python documentation topics and docstrings; {'quick' if args.quick else 'full'} run")
        topics = python_topics()
        e2e_texts = (topics + docstrings(limit=800, seed=3))[: args.posts]
        meter = CpuMeter(pg.proc.pid, redis_server.proc.pid)
        result = await throughput(redis, service_pool, owner_pool, embedder, config, e2e_texts, meter)
        fresh = await freshness(redis, owner_pool, embedder, docstrings(limit=args.fresh, seed=9))
        say(f"freshness (minus own embedding): p50 {pct(fresh, 50) * 1000:.0f} ms, p99 {pct(fresh, 99) * 1000:.0f} ms")
        result["runtime"].stop()
        await result["task"]
        unique, bulk_rate = await bulk_load(owner_pool, embedder, args.chunks)
        total = await pool_count(owner_pool, "SELECT count(*) FROM rag_chunks")
        await owner_pool.execute("VACUUM ANALYZE rag_chunks")
        say(f"search corpus: {total} chunks in {len(TENANTS)} tenants ({unique} unique texts)")
        queries = [t.body.split(". ")[0][:120] for t in docstrings(limit=args.queries, seed=13)]
        figures = await search_figures(service_pool, embedder, config, queries)
        say("search: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        await owner_pool.close()
        await service_pool.close()
    finally:
        await redis.aclose()
        redis_server.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "chunks_per_s": round(result["e2e"], 1),
        "raw_encode_chunks_per_s": round(result["raw"], 1),
        "ratio_to_raw": round(result["e2e"] / result["raw"], 3),
        "hybrid_p95_ms": figures["hybrid_p95_ms"],
        "vector_p95_ms": figures["vector_p95_ms"],
        "recall_at_10": figures["recall_at_10"],
        "freshness_p99_s": round(pct(fresh, 99), 3),
        "freshness_p50_s": round(pct(fresh, 50), 3),
        "encoder_busy_ratio": round(result["busy"], 3),
        "e2e_encode_calls": result["calls"],
        "raw_cpu_ms_per_chunk": round(result["raw_cpu"], 2),
        "e2e_cpu_ms_per_chunk": round(result["e2e_cpu"], 2),
        "cpu_ratio_to_raw": round(result["raw_cpu"] / result["e2e_cpu"], 3),
        "others_cpu_share_during_e2e": round(result["others"], 3),
        "e2e_while_encoding_chunks_per_s": round(result["encoding_rate"], 1),
        "load_avg_1m_at_start": load_at_start,
        "raw_encode_before_chunks_per_s": round(result["raw_before"], 1),
        "raw_encode_after_chunks_per_s": round(result["raw_after"], 1),
        "e2e_chunks": result["chunks"],
        "mean_chunk_tokens": round(result["tokens"], 1),
        "search_chunks": total,
        "tenants": len(TENANTS),
        "search_unique_texts": unique,
        "short_text_encode_per_s": round(bulk_rate, 1),
        **{k: v for k, v in figures.items() if k not in ("hybrid_p95_ms", "vector_p95_ms", "recall_at_10")},
        "quick": args.quick,
    }


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run of about a minute")
    parser.add_argument("--chunks", type=int, help="search corpus size (default 100000; --quick 5000)")
    parser.add_argument("--queries", type=int, help="queries per mode (default 200; --quick 40)")
    parser.add_argument("--fresh", type=int, help="freshness samples (default 100; --quick 20)")
    parser.add_argument("--posts", type=int, help="posts indexed end to end (default 879; --quick 12)")
    args = parser.parse_args()
    args.chunks = args.chunks or (5_000 if args.quick else 100_000)
    args.queries = args.queries or (40 if args.quick else 200)
    args.fresh = args.fresh or (20 if args.quick else 100)
    args.posts = args.posts or (12 if args.quick else 879)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers on SIGTERM too
    result = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / f"rag-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

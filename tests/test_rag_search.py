"""Search over real embeddings: tenant isolation, exact terms through hybrid search, complete results under a
selective filter (pgvector's iterative scan), and agents' scoped retrieval with citations."""

from __future__ import annotations

import itertools

from factories import running
from rag_helpers import document, drain, message, product

from consumers.indexer import indexer_group
from db.pool import tenant_transaction
from producers.publisher import Publisher
from rag.config import RagConfig
from rag.convert import Converter
from rag.indexes import active_index
from rag.pipeline import index_states, make_chunker
from rag.retrieval import Searcher, as_context, retrieve
from rag.search import Filters, prepare, search, search_sql
from rag.texts import convert_texts, newest_states

CONFIG = RagConfig()

POLICY = (
    "{name} refund policy: customers of {name} may return any item within 30 days for a full refund. "
    "Write to returns@{domain}.example with the order number, and {name} emails a prepaid label."
)


async def index_directly(pool, embedder, events, tenant_positions=itertools.count(1)):  # noqa: B008 - one counter for every call: positions only grow
    """The indexer's own pipeline, without the stream (for larger corpora)."""
    states = newest_states((e, (next(tenant_positions), 0), False) for e in events)
    converter = Converter()
    try:
        await convert_texts(states, converter, CONFIG.rag_max_text_chars)
    finally:
        await converter.close()
    async with pool.acquire() as conn, conn.transaction():
        index = await active_index(conn)
        await index_states(conn, [index], states, embedder, make_chunker(embedder, CONFIG))


async def test_a_tenant_never_finds_another_tenants_near_identical_text(redis, pool, rag_db, embedder):
    events = [
        document("acme", "d1", "Refunds", POLICY.format(name="ACME", domain="acme")),
        document("bolt", "d1", "Refunds", POLICY.format(name="BOLT", domain="bolt")),
        product("bolt", "p1", "ACME-compatible charger", "Works with every ACME refund policy device."),
    ]
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await Publisher(redis).publish(events)
        await drain(redis)
    searcher = Searcher(pool, CONFIG, embedder)
    for mode in ("hybrid", "vector", "keyword"):
        hits = await searcher.search("acme", "ACME refund policy", 10, mode)
        assert [(h.kind, h.external_id) for h in hits] == [("document", "d1")], mode
        assert "ACME" in hits[0].content and "BOLT" not in hits[0].content
        bolt = await searcher.search("bolt", "ACME refund policy", 10, mode)
        assert {h.external_id for h in bolt} <= {"d1", "p1"}
        assert not [h for h in bolt if "customers of ACME" in h.content or "acme.example" in h.content]
    assert await searcher.search("nobody", "ACME refund policy", 10) == []
    assert await searcher.search("acme", "the of and", 10, "keyword") == []  # stop words only: no terms, no error
    function = "rag_keyword_candidates(integer, tsquery, integer, text[], text, text, timestamptz, timestamptz)"
    assert await rag_db.fetchval("SELECT has_function_privilege('public', $1, 'EXECUTE')", function) is False


async def test_an_exact_sku_or_order_number_is_found_first_by_hybrid_where_vector_misses_it(pool, rag_db, embedder):
    colours = ["black", "blue", "red", "grey", "green", "white"]
    products = [
        product(
            "t1",
            f"p{i}",
            f"Trail running shoe, {colours[i % 6]}",
            f"Lightweight trail running shoe with a grippy sole, size {36 + i % 12}.",
            sku=f"TRS-{4100 + i * 37}-{colours[i % 6][:2].upper()}",
        )
        for i in range(30)
    ]
    messages = [
        message("t1", f"m{i}", f"Hi, where is my order {100200 + i * 13}? It has not arrived yet.") for i in range(30)
    ]
    messages[17] = message("t1", "m17", "Thanks, the invoice for 100421 is attached; payment went through today.")
    await index_directly(pool, embedder, products + messages)
    searcher = Searcher(pool, CONFIG, embedder)
    for query, target in (("TRS-4581-BL", ("product", "p13")), ("where is order 100421", ("message", "m17"))):
        vector = await searcher.search("t1", query, 10, "vector")
        hybrid = await searcher.search("t1", query, 10, "hybrid")
        assert (hybrid[0].kind, hybrid[0].external_id) == target, query
        assert (vector[0].kind, vector[0].external_id) != target, query  # the embedding alone misses it
        assert hybrid[0].keyword_rank == 1


async def test_top_10_under_a_filter_that_keeps_1_percent_is_as_complete_as_an_exact_scan(pool, rag_db, embedder):
    topics = [
        "invoice",
        "delivery",
        "refund",
        "password reset",
        "discount code",
        "size exchange",
        "gift card",
        "newsletter",
        "warranty",
        "store hours",
    ]
    moods = ["politely", "urgently", "again", "for the second time", "briefly"]
    corpus = [
        message(
            "t1",
            f"m{i}",
            f"Customer {i} asks {moods[i % 5]} about a {topics[i % 10]} for item {i * 7 % 113}.",
            version=1,
        )
        for i in range(1000)
    ]
    recent = [
        message(
            "t1",
            f"r{i}",
            f"Customer {i} asks {moods[i % 5]} about a {topics[(i * 3) % 10]} for item {i * 11 % 97}.",
            version=1000,
        )
        for i in range(10)
    ]
    await index_directly(pool, embedder, corpus + recent)
    await rag_db.execute("ANALYZE rag_chunks")
    since = recent[0].occurred_at  # only the 10 recent messages (1% of the rows) pass this filter
    filters = Filters(since=since)
    query = "a customer wants money back for a gift card"
    vector = (await embedder.embed([query]))[0]
    async with tenant_transaction(pool, "t1") as conn:
        index = await active_index(conn)
        # pin the path under test, the HNSW scan (at this size the planner may sort the tenant's rows instead)
        await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        args = [await prepare(conn, query, CONFIG), 10]
        plan = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN " + search_sql(index, "vector", filters, vector, 40, args), *args)
        )
        assert "rag_chunks_hnsw_1" in plan
        found = await search(conn, index, query, vector, 10, "vector", filters, CONFIG)
        await conn.execute("SET LOCAL hnsw.iterative_scan = off")
        await conn.execute("SET LOCAL hnsw.ef_search = 40")
        without = await conn.fetch(
            f"SELECT external_id FROM rag_chunks WHERE index_id = 1 AND updated_at >= $1 "
            f"ORDER BY {index.vector_sql} <=> $2 LIMIT 10",
            since,
            vector,
        )
    async with tenant_transaction(pool, "t1") as conn:
        await conn.execute("SET LOCAL enable_indexscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        exact = await conn.fetch(
            f"SELECT external_id FROM rag_chunks WHERE index_id = 1 AND updated_at >= $1 "
            f"ORDER BY {index.vector_sql} <=> $2 LIMIT 10",
            since,
            vector,
        )
    assert [h.external_id for h in found] == [r["external_id"] for r in exact]
    assert len(without) < 10  # without the iterative scan the filter starves the index scan


async def test_agents_retrieve_only_their_scope_with_citations(pool, rag_db, embedder):
    await index_directly(
        pool,
        embedder,
        [
            document(
                "t1",
                "seo",
                "Keyword guide",
                "Use the phrase handmade leather wallet in every product title.",
                agents=["seo-writer"],
            ),
            document(
                "t1",
                "support",
                "Refund macro",
                "Refunds for leather wallets are paid within five days.",
                agents=["support-bot"],
            ),
            document("t1", "all", "Brand voice", "We write about leather wallets in a warm, plain voice."),
        ],
    )
    searcher = Searcher(pool, CONFIG, embedder)
    cited = await retrieve(searcher, "t1", "how do we write about leather wallets", agent="seo-writer")
    assert {c.external_id for c in cited} == {"seo", "all"}
    assert [c.n for c in cited] == [1, 2] and cited[0].record_id.startswith("rec_")
    assert "[1] " in as_context(cited) and "support" not in as_context(cited)
    everything = await searcher.search("t1", "leather wallets", 10, "hybrid")
    assert {h.external_id for h in everything} == {"seo", "support", "all"}  # the portal sees the whole tenant

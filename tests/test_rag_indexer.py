"""The indexer group on real Redis, Postgres+pgvector and the real local model: exactly the right chunks after
index, update, delete and re-delivery; nothing re-embedded that did not change; chunks of many events share calls."""

from __future__ import annotations

import asyncio
import urllib.request

from factories import running, start_worker, wait_for
from rag_helpers import chunk_texts, drain, handled_everything, message, post, product

from bizosaas.servers import free_port
from consumers.indexer import indexer_group
from events.streams import dead_stream
from producers.publisher import Publisher
from rag.config import RagConfig
from rag.pipeline import make_chunker
from rag.texts import TEXT_OF

CONFIG = RagConfig(rag_chunk_tokens=60, rag_chunk_overlap_tokens=12)  # small chunks: several per text

PARAGRAPHS = [
    "Our store opened in 2009 in a small garage in Porto. We sold hand-made leather wallets to neighbours and "
    "friends, and every wallet was stitched by hand over a long weekend.",
    "In 2012 we moved to a workshop near the river. Two apprentices joined us, and we began to make belts, bags and "
    "watch straps from vegetable-tanned leather sourced in Alentejo.",
    "Shipping is free in Portugal for orders above forty euros. Orders placed before noon leave the workshop the "
    "same day, and tracking numbers are emailed as soon as the courier scans the parcel.",
    "Returns are accepted within thirty days. Send the item back unused in its original box, and we refund the full "
    "price to the card you paid with within five working days of receiving it.",
    "Caring for leather is simple. Wipe it with a dry cloth, keep it away from radiators, and apply a thin layer of "
    "beeswax balm twice a year so that it stays supple and resists water.",
    "Every product carries a lifetime repair promise. If a stitch comes loose or a buckle breaks, send it to us and "
    "we repair it for free, no matter how old it is or where you bought it.",
    "We plant a tree for every order through a reforestation partner in the Serra da Estrela, where the fires of "
    "2017 burned more than twenty thousand hectares of forest.",
    "Gift wrapping is available at checkout. We wrap each item in recycled paper, tie it with cotton ribbon, and add "
    "a hand-written card with the message of your choice.",
]


def expected_chunks(embedder, event) -> list[str]:
    return [c.text for c in make_chunker(embedder, CONFIG)(TEXT_OF[event.subject.kind](event.data))]


async def test_index_update_delete_and_redelivery_leave_exactly_the_right_chunks(redis, pool, rag_db, embedder):
    publisher = Publisher(redis)
    story = post("t1", "p1", "Our story", "\n\n".join(PARAGRAPHS))
    wallet = product("t1", "w1", "Classic wallet", "A slim wallet with six card slots.", sku="WAL-001")
    belt = product("t1", "b1", "Belt", "A belt of vegetable-tanned leather.", sku="BLT-002")
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await publisher.publish([story, wallet, belt])
        await drain(redis)
        assert await chunk_texts(rag_db, "t1", "post", "p1") == expected_chunks(embedder, story)
        assert len(expected_chunks(embedder, story)) >= 5
        assert await chunk_texts(rag_db, "t1", "product", "w1") == expected_chunks(embedder, wallet)

        shorter = post("t1", "p1", "Our story", "\n\n".join(PARAGRAPHS[:2]), version=2)  # the text shrinks
        belt_gone = product("t1", "b1", "", deleted=True, version=2)
        await publisher.publish([shorter, belt_gone])
        await drain(redis)
        assert await chunk_texts(rag_db, "t1", "post", "p1") == expected_chunks(embedder, shorter)
        assert await chunk_texts(rag_db, "t1", "product", "b1") == []

        before = embedder.texts_encoded
        await publisher.publish([story, wallet, belt, shorter, belt_gone])  # re-delivery, old versions included
        await drain(redis)
    assert embedder.texts_encoded == before  # nothing re-embedded
    assert await chunk_texts(rag_db, "t1", "post", "p1") == expected_chunks(embedder, shorter)
    assert await chunk_texts(rag_db, "t1", "product", "b1") == []
    assert await chunk_texts(rag_db, "t1", "product", "w1") == expected_chunks(embedder, wallet)
    entities = {r["external_id"]: r for r in await rag_db.fetch("SELECT * FROM rag_entities WHERE index_id = 1")}
    assert entities["b1"]["deleted"] and entities["b1"]["chunks"] == 0
    assert entities["p1"]["chunks"] == len(expected_chunks(embedder, shorter))
    assert await rag_db.fetchval("SELECT count(*) FROM rag_chunks") == sum(e["chunks"] for e in entities.values())


async def test_a_field_that_is_not_embedded_reembeds_nothing(redis, pool, rag_db, embedder):
    publisher = Publisher(redis)
    v1 = product("t1", "w1", "Classic wallet", "A slim wallet with six card slots.", sku="WAL-001", price_minor=4500)
    v2 = product(
        "t1", "w1", "Classic wallet", "A slim wallet with six card slots.", sku="WAL-001", price_minor=3900, version=2
    )
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await publisher.publish([v1])
        await drain(redis)
        before = embedder.texts_encoded
        await publisher.publish([v2])  # the price changed: not part of the embedded text
        await drain(redis)
    assert embedder.texts_encoded == before
    assert await rag_db.fetchval("SELECT updated_at FROM rag_chunks WHERE external_id = 'w1'") == v2.occurred_at


async def test_one_changed_paragraph_reembeds_only_the_chunks_whose_text_changed(redis, pool, rag_db, embedder):
    publisher = Publisher(redis)
    v1 = post("t1", "p1", "Our story", "\n\n".join(PARAGRAPHS))
    edited = list(PARAGRAPHS)
    edited[4] = edited[4].replace("twice a year", "every three months, more often in a humid climate,")
    v2 = post("t1", "p1", "Our story", "\n\n".join(edited), version=2)
    old, new = expected_chunks(embedder, v1), expected_chunks(embedder, v2)
    changed = [text for text in new if text not in old]
    assert len(new) >= 6 and 1 <= len(changed) <= 2  # the chunker keeps an edit local
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await publisher.publish([v1])
        await drain(redis)
        before = embedder.texts_encoded
        await publisher.publish([v2])
        await drain(redis)
    assert embedder.texts_encoded - before == len(changed)
    assert await chunk_texts(rag_db, "t1", "post", "p1") == new


async def test_chunks_of_many_events_share_the_embedding_calls(redis, pool, rag_db, embedder):
    events = [message(f"t{i % 3}", f"m{i}", f"Customer {i} asks where order #{10_000 + i} is.") for i in range(40)]
    await Publisher(redis).publish(events)  # waiting before the group starts: it reads them in batches
    calls, texts = embedder.calls, embedder.texts_encoded
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await drain(redis)
    assert embedder.texts_encoded - texts == 40
    assert embedder.calls - calls <= 8  # at most one call per partition batch, never one per event
    assert await rag_db.fetchval("SELECT count(DISTINCT tenant_id) FROM rag_chunks") == 3


async def test_a_worker_process_runs_the_indexer_with_the_configured_model(redis, rag_db, migrated, tmp_path):
    port = free_port()
    env = migrated.env(BIZOSAAS_METRICS_PORT=str(port), BIZOSAAS_BLOCK_MS="100", BIZOSAAS_RAG_EMBEDDER="local")
    worker = start_worker(env, tmp_path / "worker.log", "indexer")
    try:
        await Publisher(redis).publish([product("t1", "w1", "Classic wallet", "A slim wallet.", sku="WAL-001")])
        await wait_for(
            lambda: rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE external_id = 'w1'"), timeout_s=90
        )
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        )
    finally:
        worker.terminate()
        worker.wait(30)
    assert 'bizosaas_rag_texts_embedded_total{model="local/all-MiniLM-L6-v2@onnx"} 1.0' in metrics
    assert 'bizosaas_consumer_processed_total{group="indexer"} 1.0' in metrics
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()


async def test_without_an_index_for_its_model_the_indexer_waits_and_loses_nothing(redis, pool, rag_db, embedder):
    await rag_db.execute("UPDATE rag_indexes SET state = 'retired' WHERE id = 1")  # as after a switch to OpenAI
    async with running(redis, [indexer_group(pool, 8, CONFIG, embedder)]):
        await Publisher(redis).publish([product("t1", "w1", "Classic wallet", "A slim wallet.", sku="WAL-001")])
        await asyncio.sleep(1.0)
        assert not await handled_everything(redis, "indexer")  # held, retried with back-off ...
        assert await redis.xlen(dead_stream("indexer")) == 0  # ... never dead-lettered
        await rag_db.execute("UPDATE rag_indexes SET state = 'active' WHERE id = 1")
        await drain(redis, timeout_s=30)
    assert await chunk_texts(rag_db, "t1", "product", "w1")

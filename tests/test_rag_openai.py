"""The OpenAI embedder against a local server that speaks `/v1/embeddings`; `bizosaas rag reindex` switching the
search index from the local model to it while search keeps answering, and a reindex resuming and catching up."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from factories import local_http_server, running
from pgvector.asyncpg import register_vector
from rag_helpers import document, drain, post, product

from bizosaas.settings import Settings
from consumers.indexer import indexer_group
from consumers.projector import projector_group
from producers.publisher import Publisher
from rag.config import RagConfig
from rag.embedders import OpenAIEmbedder, embedder_identity, make_embedder
from rag.reindex import building_index, catch_up, reindex
from rag.retrieval import Searcher, SearchUnavailable

API_KEY = "sk-test-not-a-real-key"
DIMENSIONS = 64


def bag_of_words(text: str, dimensions: int) -> list[float]:
    """A deterministic stand-in for a model: hashed word counts (texts sharing words are similar)."""
    vector = np.zeros(dimensions)
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimensions] += 1
    return (vector / (np.linalg.norm(vector) or 1)).tolist()


@pytest.fixture
async def openai_server():
    """`POST /v1/embeddings` as OpenAI documents it: bearer key, {model, input: [..], dimensions} -> {data: [..]}."""
    seen: list[dict] = []

    async def embeddings(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}, status=401
            )
        body = await request.json()
        seen.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text, body["dimensions"])}
            for i, text in reversed(list(enumerate(inputs)))
        ]  # any order: the client sorts by index
        return web.json_response(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        )

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    async with local_http_server(app) as base:
        yield f"{base}/v1", seen


async def test_the_openai_embedder_speaks_the_embeddings_api(openai_server):
    url, seen = openai_server
    client = OpenAIEmbedder(API_KEY, url, "text-embedding-3-small", DIMENSIONS, batch_size=3)
    try:
        texts = ["leather wallet", "wallet of leather", "store hours", "refund policy", "opening hours"]
        vectors = await client.embed(texts)
    finally:
        await client.close()
    assert vectors.shape == (5, DIMENSIONS) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert np.allclose(vectors[0], bag_of_words(texts[0], DIMENSIONS))  # order kept whatever the server's order
    assert [len(b["input"]) for b in seen] == [3, 2] and client.texts_encoded == 5 and client.calls == 2
    assert {(b["model"], b["dimensions"]) for b in seen} == {("text-embedding-3-small", DIMENSIONS)}
    assert client.model_id == "openai/text-embedding-3-small"


async def test_reindex_switches_to_another_model_while_search_keeps_answering(
    redis, pool, rag_db, migrated, embedder, openai_server
):
    url, _ = openai_server
    events = [
        post("t1", f"p{i}", f"Guide {i}", f"How to care for leather item {i}. Wipe it with a dry cloth.")
        for i in range(12)
    ]
    events += [
        product("t2", "w1", "Classic wallet", "A slim wallet.", sku="WAL-001"),
        document("t1", "faq", "Shipping", "Parcels leave the same day.", agents=["support-bot"]),
    ]
    async with running(redis, [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]):
        await Publisher(redis).publish(events)
        await drain(redis, "indexer")
        await drain(redis, "projector")
    before = await rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE index_id = 1")
    local = Searcher(pool, RagConfig(), embedder)
    env = migrated.env(
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=url,
        BIZOSAAS_RAG_EMBEDDER="openai",
        BIZOSAAS_RAG_OPENAI_DIMENSIONS=str(DIMENSIONS),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bizosaas",
        "rag",
        "reindex",
        "--grace-s",
        "1",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    answered = 0
    while proc.returncode is None:  # search keeps answering from the active index during the whole reindex
        try:
            hits = await local.search("t1", "leather care", 5, "hybrid")
            assert hits and hits[0].kind == "post"
        except SearchUnavailable:  # switched: the local model no longer matches the active index
            break
        answered += 1
        await asyncio.sleep(0.05)
    output = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, output
    assert answered > 0 and "reindex with openai/text-embedding-3-small" in output
    assert (await local.search("t1", "leather care", 5, "keyword"))[0].kind == "post"  # keyword needs no model
    with pytest.raises(SearchUnavailable):
        await local.search("t1", "leather care", 5, "vector")
    remote = Searcher(
        pool,
        RagConfig(rag_embedder="openai", openai_api_key=API_KEY, openai_base_url=url, rag_openai_dimensions=DIMENSIONS),
    )
    try:
        hits = await remote.search("t1", "care for leather item 7", 3, "vector")
        assert (hits[0].kind, hits[0].external_id) == ("post", "p7")
        assert {h.external_id for h in await remote.search("t2", "wallet", 5)} == {"w1"}
    finally:
        await remote.close()
    indexes = await rag_db.fetch("SELECT id, model, dimension, state FROM rag_indexes ORDER BY id")
    assert [(r["model"], r["state"]) for r in indexes] == [
        ("local/all-MiniLM-L6-v2@onnx", "retired"),
        ("openai/text-embedding-3-small", "active"),
    ]
    assert await rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE index_id = 1") == 0
    assert await rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE index_id = $1", indexes[1]["id"]) == before


async def test_a_reindex_with_the_same_model_resumes_and_picks_up_what_changed(redis, pool, rag_db, migrated, embedder):
    events = [post("t1", f"p{i}", f"Guide {i}", f"How to care for leather item {i}.") for i in range(6)]
    async with running(redis, [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]):
        await Publisher(redis).publish(events)
        await drain(redis, "indexer")
        await drain(redis, "projector")
        owner = await asyncpg.connect(migrated.admin_url)
        await register_vector(owner)
        try:
            building = await building_index(owner, embedder)
            first, _ = await catch_up(owner, pool, building, embedder, RagConfig(), page=4)  # a run stopped here
            await Publisher(redis).publish(
                [
                    post("t1", "p2", "Guide 2", "Leather item 2 was discontinued.", version=2),
                    post("t1", "p5", "", "", deleted=True, version=2),
                ]
            )
            await drain(redis, "indexer")  # the live indexer writes into both indexes of its model
            await drain(redis, "projector")
            result = await reindex(owner, pool, embedder, RagConfig(), grace_s=0)  # run again: resumes
        finally:
            await owner.close()
    assert first == 6 and result.index.id == building.id and result.replaced.id == 1
    assert result.entities == result.embedded == 0  # nothing redone: the live indexer kept it current
    assert await rag_db.fetchval("SELECT count(*) FROM rag_indexes WHERE state = 'active'") == 1
    rows = await rag_db.fetch("SELECT external_id, content FROM rag_chunks WHERE index_id = $1 ORDER BY 1", building.id)
    assert [r["external_id"] for r in rows] == ["p0", "p1", "p2", "p3", "p4"]
    assert "discontinued" in rows[2]["content"]
    assert await rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE index_id = 1") == 0


def test_a_language_model_key_does_not_move_embeddings():
    """OPENAI_API_KEY is set for the agents' model; search keeps the local model until BIZOSAAS_RAG_EMBEDDER says so
    (before: `auto` switched to OpenAI, the indexer stopped for want of an index and texts left the machine)."""
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert embedder_identity(settings) == ("local/all-MiniLM-L6-v2@onnx", 384)
    chosen = Settings.from_env({"OPENAI_API_KEY": "sk-test", "BIZOSAAS_RAG_EMBEDDER": "openai"})
    assert embedder_identity(chosen)[0] == "openai/text-embedding-3-small"
    with pytest.raises(ValueError, match="use local or openai"):
        make_embedder(Settings.from_env({"BIZOSAAS_RAG_EMBEDDER": "auto"}))

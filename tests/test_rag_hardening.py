"""RAG under hostile and careless inputs (issue 8): text conversion is linear and runs in killable processes, uploads
are stored whole or refused, lists never carry document bodies, `kind=` has one rule, and a reindex keeps every
tenant's chunks and agent scopes."""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import sys
import time

from factories import running, wait_for
from gateway_helpers import Gateway
from rag_helpers import chunk_texts, document, drain, pdf_of_pages, post, product

from consumers.indexer import indexer_group
from consumers.projector import projector_group
from events.streams import dead_stream
from producers.publisher import Publisher
from rag.chunking import paragraphs
from rag.config import RagConfig
from rag.documents import html_to_text, tidy, to_text
from rag.indexes import create_index
from rag.pipeline import make_chunker
from rag.texts import TEXT_OF

SLOW_HTML = b"<b>x" * 1_000_000  # 4 MB whose conversion is linear but takes seconds: one token per 2 characters


def _growth(convert, small, large) -> float:
    """Time per call on `large` over time per call on `small`: the best of 5 interleaved rounds of at least 50 ms
    each (noise from other processes only ever adds time, and interleaving exposes both sizes to it alike)."""
    best = {id(small): float("inf"), id(large): float("inf")}
    for _ in range(5):
        for value in (small, large):
            calls, start = 0, time.perf_counter()
            while not calls or time.perf_counter() - start < 0.05:
                convert(value)
                calls += 1
            best[id(value)] = min(best[id(value)], (time.perf_counter() - start) / calls)
    return best[id(large)] / best[id(small)]


def test_every_text_conversion_is_linear():
    n = 10_000  # the quadratic code took 4-10 s a call at 4n; this code takes milliseconds
    shapes = {
        "spaces in a paragraph": (html_to_text, lambda n: "<p>" + " " * n + "x</p>"),
        "unclosed tags": (html_to_text, lambda n: "<p>" + "<x" * n),
        "end-tag openers": (html_to_text, lambda n: "</" * n),
        "whitespace": (tidy, lambda n: " " * n + "x"),
        "an HTML upload": (lambda body: to_text(body, "text/html"), lambda n: ("<div>" + " \t" * n + "y").encode()),
        "a product description": (TEXT_OF["product"], lambda n: product("t", "p", "Belt", " " * n + "<p>x").data),
        "paragraphs for chunking": (paragraphs, lambda n: "\n" + " " * n + "x" + ". \n \n" * n),
    }
    for name, (convert, make) in shapes.items():
        ratio = _growth(convert, make(n), make(4 * n))  # linear: ~4, quadratic: ~16
        assert ratio < 8, f"{name}: four times the input took {ratio:.1f} times as long"


async def test_a_pathological_description_does_not_hold_up_the_rest_of_its_batch(redis, pool, rag_db, embedder, caplog):
    config = RagConfig(rag_chunk_tokens=60, rag_chunk_overlap_tokens=12, rag_parse_timeout_s=0.5)
    normal = product("t1", "w1", "Classic wallet", "<p>A slim wallet with <b>six</b> card slots.</p>", sku="WAL-1")
    hostile = product("t1", "h1", "Hostile belt", SLOW_HTML.decode(), sku="BLT-9")  # seconds of parsing
    caplog.set_level(logging.WARNING, logger="rag.texts")
    async with running(redis, [indexer_group(pool, 8, config, embedder)]):
        await Publisher(redis).publish([hostile, normal])
        await drain(redis, timeout_s=120)
    expected = [c.text for c in make_chunker(embedder, config)(TEXT_OF["product"](normal.data))]
    assert await chunk_texts(rag_db, "t1", "product", "w1") == expected
    assert await chunk_texts(rag_db, "t1", "product", "h1") == ["Hostile belt"]  # its title only, and said why
    assert any("h1" in r.getMessage() and "BIZOSAAS_RAG_PARSE_TIMEOUT_S" in r.getMessage() for r in caplog.records)
    assert await redis.xlen(dead_stream("indexer")) == 0


async def _upload_while_probing(gw: Gateway, key: str, body: bytes) -> tuple[int, int]:
    """Upload `body` as HTML while probing /healthz; returns (the upload's status, probes that were sent after the
    whole body had gone out and answered before the upload was)."""
    sent = asyncio.Event()

    async def chunks():
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]
        sent.set()

    upload = asyncio.create_task(
        gw.post("/v1/knowledge", data=chunks(), headers={**gw.bearer(key), "Content-Type": "text/html"})
    )
    answered = 0
    while not upload.done():
        started_after_body = sent.is_set()
        resp = await gw.get("/healthz")
        assert resp.status == 200
        if started_after_body and not upload.done():
            answered += 1
    resp = await upload
    return resp.status, answered


async def test_healthz_answers_while_a_big_html_upload_is_converted(make_gateway):
    gw = await make_gateway(rag_parse_timeout_s=120)
    _, key = await gw.create_tenant("acme")
    status, answered = await _upload_while_probing(gw, key, SLOW_HTML)
    assert status == 202
    # seconds of conversion in a child process leave the loop free: thousands of probes were answered meanwhile (4,158
    # here). Converting on the loop, only the probes around it were (15 here, while the body was still arriving).
    assert answered >= 200


async def test_a_conversion_past_its_time_is_stopped_and_the_next_upload_is_served(make_gateway):
    gw = await make_gateway(rag_parse_timeout_s=0.5)
    _, key = await gw.create_tenant("acme")
    headers = {**gw.bearer(key), "Content-Type": "text/html"}
    resp = await gw.post("/v1/knowledge", data=io.BytesIO(SLOW_HTML), headers=headers)
    assert resp.status == 422 and "BIZOSAAS_RAG_PARSE_TIMEOUT_S" in (await resp.json())["detail"]
    resp = await gw.post("/v1/knowledge", data=b"<p>Opening hours: nine to seven.</p>", headers=headers)
    assert resp.status == 202, await resp.text()


async def test_uploads_are_stored_whole_or_refused(make_gateway, redis, pool):
    gw = await make_gateway()
    _, key = await gw.create_tenant("acme")
    text = (b"The handbook says something different on every line.\n" * 60_000)[:2_999_999] + b"."
    resp = await gw.post(
        "/v1/knowledge", data=io.BytesIO(text), headers={**gw.bearer(key), "Content-Type": "text/plain"}
    )
    assert resp.status == 202, await resp.text()
    uploaded = await resp.json()
    assert uploaded["size_bytes"] == 3_000_000
    async with running(redis, [projector_group(pool, 8)]):
        resp = await wait_for(lambda: _found(gw, key, uploaded["id"]), timeout_s=60)
    assert (await resp.json())["content"].encode() == text  # the body route answers it whole

    small = await make_gateway(rag_knowledge_max_bytes=100_000)
    _, small_key = await small.create_tenant("bravo")

    async def chunked():  # no Content-Length: only counting what arrives can refuse it
        for _ in range(40):
            yield b"y" * 16_384

    resp = await small.post(
        "/v1/knowledge", data=chunked(), headers={**small.bearer(small_key), "Content-Type": "text/plain"}
    )
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"


async def test_a_gzip_upload_is_stored_decoded(make_gateway, redis, pool):
    """The server's own decompression is off (it ran before any cap), so the route decodes: never stores gzip."""
    gw = await make_gateway()
    _, key = await gw.create_tenant("acme")
    text = b"Returns are accepted within thirty days of delivery.\n" * 2_000
    resp = await gw.post(
        "/v1/knowledge",
        data=gzip.compress(text),
        headers={**gw.bearer(key), "Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert resp.status == 202, await resp.text()
    uploaded = await resp.json()
    assert uploaded["size_bytes"] == len(text)
    async with running(redis, [projector_group(pool, 8)]):
        resp = await wait_for(lambda: _found(gw, key, uploaded["id"]), timeout_s=60)
    assert (await resp.json())["content"].encode() == text.rstrip()  # text/plain keeps the text, trimmed
    resp = await gw.post(
        "/v1/knowledge", data=b"x", headers={**gw.bearer(key), "Content-Type": "text/plain", "Content-Encoding": "br"}
    )
    assert resp.status == 415


async def _found(gw: Gateway, key: str, document_id: str):
    resp = await gw.get(f"/v1/knowledge/{document_id}", headers=gw.bearer(key))
    return resp if resp.status == 200 else None


async def test_lists_carry_metadata_and_a_bounded_size_never_bodies(make_gateway, redis, pool, admin):
    gw = await make_gateway(list_max_bytes=120_000)
    tenant, key = await gw.create_tenant("acme")
    body = ("A long chapter about leather. " * 35_000).encode()  # ~1 MB each
    ids = []
    for n in range(3):
        resp = await gw.post(
            "/v1/knowledge",
            data=io.BytesIO(body),
            params={"title": f"Chapter {n}"},
            headers={**gw.bearer(key), "Content-Type": "text/plain"},
        )
        assert resp.status == 202
        ids.append((await resp.json())["id"])
    posts = [post(tenant, f"p{n}", f"Post {n}", "Words about wallets. " * 2_500, version=n) for n in range(5)]
    async with running(redis, [projector_group(pool, 8)]):
        await Publisher(redis).publish(posts)
        await wait_for(lambda: admin.fetchval("SELECT count(*) = 8 FROM records"), timeout_s=60)

    resp = await gw.get("/v1/knowledge", params={"limit": "500"}, headers=gw.bearer(key))
    listing = await resp.read()
    items = (await resp.json())["items"]
    assert len(listing) < 5_000 and all("content" not in item for item in items)
    assert {i["title"] for i in items} == {"Chapter 0", "Chapter 1", "Chapter 2"}
    assert all(i["size_bytes"] == len(body) for i in items)
    resp = await gw.get("/v1/records/document", params={"limit": "500"}, headers=gw.bearer(key))
    listing = await resp.read()
    records = (await resp.json())["items"]
    assert len(records) == 3 and len(listing) < 5_000 and all("content" not in r["data"] for r in records)
    whole = await (await gw.get(f"/v1/records/document/{records[0]['id']}", headers=gw.bearer(key))).json()
    assert whole["data"]["content"].encode() == body.strip()

    seen, cursor, pages = [], None, 0
    while True:  # posts of ~52 KB each: pages of two under a 120,000-byte cap, all of them in the end
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = await (await gw.get("/v1/records/post", params=params, headers=gw.bearer(key))).json()
        assert 1 <= len(page["items"]) <= 2
        seen += [item["external_id"] for item in page["items"]]
        pages, cursor = pages + 1, page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p{n}" for n in range(5)] and pages == 3


async def test_an_unknown_kind_on_search_is_refused_with_the_valid_kinds(gw: Gateway):
    _, key = await gw.create_tenant("acme")
    for kinds in ("bogus", "product,bogus"):
        resp = await gw.get(
            "/v1/search", params={"q": "wallet", "mode": "keyword", "kind": kinds}, headers=gw.bearer(key)
        )
        assert resp.status == 400 and resp.content_type == "application/problem+json"
        detail = (await resp.json())["detail"]
        assert "'bogus'" in detail and "product" in detail and "document" in detail
    resp = await gw.get(
        "/v1/search", params={"q": "wallet", "mode": "keyword", "kind": "product,document"}, headers=gw.bearer(key)
    )
    assert resp.status == 200, await resp.text()


HANDBOOK = "\n\n".join(
    f"Section {n}. Employees of the workshop follow rule number {n}: they keep the benches clean, label every hide "
    f"with its tannery and date, and report cuts or burns to the shift lead before the end of the day."
    for n in range(14)
)
POLICY = "Salary reviews happen every March. Managers send their proposals to HR before the end of February."


async def test_a_reindex_keeps_every_tenants_chunks_and_agent_scopes(redis, pool, rag_db, migrated, embedder):
    """Tenants t1 and t2 hold documents of the same ids; t1's are indexed into the new index (by a live indexer, as
    while a reindex runs), t2's are only projected; then `bizosaas rag reindex` finishes the index."""
    config = RagConfig(rag_chunk_tokens=60, rag_chunk_overlap_tokens=12)
    a_docs = [document("t1", "handbook", "Handbook", HANDBOOK), document("t1", "policy", "Pay", POLICY, ["hr"])]
    b_docs = [
        document("t2", "handbook", "Handbook", "Section 0. Keep the benches clean."),
        document("t2", "policy", "Pay", POLICY),
    ]
    building = await create_index(rag_db, embedder.model_id, embedder.dimension)
    async with running(redis, [projector_group(pool, 8), indexer_group(pool, 8, config, embedder)]):
        await Publisher(redis).publish(a_docs)
        await drain(redis, "indexer")
        await drain(redis, "projector")
    async with running(redis, [projector_group(pool, 8)]):
        await Publisher(redis).publish(b_docs)
        await drain(redis, "projector")
    env = migrated.env(
        BIZOSAAS_RAG_EMBEDDER="local", BIZOSAAS_RAG_CHUNK_TOKENS="60", BIZOSAAS_RAG_CHUNK_OVERLAP_TOKENS="12"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bizosaas",
        "rag",
        "reindex",
        "--grace-s",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(proc.communicate(), 300))[0].decode()
    assert proc.returncode == 0, output
    assert await rag_db.fetchval("SELECT id FROM rag_indexes WHERE state = 'active'") == building.id
    chunker = make_chunker(embedder, config)
    for event in a_docs + b_docs:
        expected = [c.text for c in chunker(TEXT_OF["document"](event.data))]
        got = await chunk_texts(rag_db, event.tenant_id, "document", event.subject.external_id, building.id)
        assert got == expected, (event.tenant_id, event.subject.external_id, len(got), len(expected))
        scopes = await rag_db.fetch(
            "SELECT DISTINCT agents FROM rag_chunks WHERE tenant_id = $1 AND index_id = $2 AND external_id = $3",
            event.tenant_id,
            building.id,
            event.subject.external_id,
        )
        assert [r["agents"] for r in scopes] == [event.data.agents], (event.tenant_id, event.subject.external_id)
    assert len(await chunk_texts(rag_db, "t1", "document", "handbook", building.id)) >= 10


async def test_uploads_over_the_page_or_character_cap_are_refused(make_gateway):
    gw = await make_gateway(rag_max_pages=2, rag_max_text_chars=1_000)
    _, key = await gw.create_tenant("acme")
    pdf = {**gw.bearer(key), "Content-Type": "application/pdf"}
    resp = await gw.post("/v1/knowledge", data=pdf_of_pages(["Page one.", "Page two."]), headers=pdf)
    assert resp.status == 202, await resp.text()
    resp = await gw.post("/v1/knowledge", data=pdf_of_pages(["One.", "Two.", "Three."]), headers=pdf)
    assert resp.status == 413 and "BIZOSAAS_RAG_MAX_PAGES" in (await resp.json())["detail"]
    resp = await gw.post(
        "/v1/knowledge", data=b"<p>" + b"word " * 300 + b"</p>", headers={**gw.bearer(key), "Content-Type": "text/html"}
    )
    assert resp.status == 413 and "BIZOSAAS_RAG_MAX_TEXT_CHARS" in (await resp.json())["detail"]

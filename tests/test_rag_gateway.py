"""Search and knowledge documents over HTTP: upload (Markdown, HTML, plain text, PDF), indexing by the real groups,
search, delete, limits, and tenant isolation through the route with near-identical texts."""

from __future__ import annotations

from factories import running, wait_for
from gateway_helpers import Gateway
from rag_helpers import pdf_of_pages

from consumers.indexer import indexer_group
from consumers.projector import projector_group
from rag.config import RagConfig

HTML = (
    b"<html><head><title>x</title><style>p { color: red }</style></head><body><h1>Shipping</h1>"
    b"<p>Parcels leave the workshop the same day when you order before noon.</p>"
    b"<p>Delivery in Portugal takes one or two working days.</p><script>track('x')</script></body></html>"
)


async def upload(gw: Gateway, key: str, body: bytes, media_type: str, **params: str) -> dict:
    resp = await gw.post(
        "/v1/knowledge", data=body, params=params, headers={**gw.bearer(key), "Content-Type": media_type}
    )
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def search(gw: Gateway, key: str, q: str, **params: str) -> list[dict]:
    resp = await gw.get("/v1/search", params={"q": q, **params}, headers=gw.bearer(key))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]


async def indexed(gw: Gateway, key: str, count: int) -> bool:
    items = (await (await gw.get("/v1/knowledge", headers=gw.bearer(key))).json())["items"]
    return len(items) == count and all(item["chunks"] for item in items)


async def test_knowledge_documents_are_uploaded_indexed_searched_and_deleted(
    gw: Gateway, redis, pool, rag_db, embedder
):
    _, key = await gw.create_tenant("acme")
    returns = await upload(
        gw,
        key,
        b"# Returns\n\nWe accept returns within 30 days of delivery.\n\n"
        b"Refunds reach your card within five working days.",
        "text/markdown",
        title="Returns",
    )
    shipping = await upload(gw, key, HTML, "text/html", title="Shipping")
    care = await upload(
        gw,
        key,
        b"Leather care: wipe with a dry cloth and apply beeswax twice a year.",
        "text/plain",
        agents="support-bot, seo-writer",
    )
    warranty = await upload(
        gw,
        key,
        pdf_of_pages(["Warranty: every wallet is repaired for free, forever."]),
        "application/pdf",
        title="Warranty",
    )
    assert care["title"].startswith("Leather care") and care["agents"] == ["seo-writer", "support-bot"]
    groups = [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]
    async with running(redis, groups):
        await wait_for(lambda: indexed(gw, key, 4), timeout_s=60)
        hits = await search(gw, key, "How long does delivery take?")
        assert hits[0]["external_id"] == shipping["id"] and hits[0]["kind"] == "document"
        assert hits[0]["record_id"] == shipping["record_id"] and hits[0]["snippet"]
        page = await (await gw.get(f"/v1/knowledge/{shipping['id']}", headers=gw.bearer(key))).json()
        assert "Parcels leave the workshop" in page["content"]
        assert not any(junk in page["content"] for junk in ("track(", "color: red", "<p>"))
        assert (await search(gw, key, "wallet repaired for free", mode="keyword"))[0]["external_id"] == warranty["id"]
        scoped = await search(gw, key, "leather care", agent="billing-bot")
        assert care["id"] not in {h["external_id"] for h in scoped}

        resp = await gw.delete(f"/v1/knowledge/{returns['id']}", headers=gw.bearer(key))
        assert resp.status == 202, await resp.text()
        await wait_for(lambda: indexed(gw, key, 3), timeout_s=60)
        assert returns["id"] not in {h["external_id"] for h in await search(gw, key, "returns within 30 days")}
    assert (await gw.get(f"/v1/knowledge/{returns['id']}", headers=gw.bearer(key))).status == 404
    assert await rag_db.fetchval("SELECT count(*) FROM rag_chunks WHERE external_id = $1", returns["id"]) == 0


async def test_uploads_outside_the_limits_are_refused(make_gateway):
    gw = await make_gateway(rag_knowledge_max_bytes=200)
    _, key = await gw.create_tenant("acme")
    headers = gw.bearer(key)
    resp = await gw.post("/v1/knowledge", data=b"x" * 201, headers={**headers, "Content-Type": "text/plain"})
    assert resp.status == 413
    resp = await gw.post("/v1/knowledge", data=b"\x89PNG", headers={**headers, "Content-Type": "image/png"})
    assert resp.status == 415
    resp = await gw.post(
        "/v1/knowledge", data=b"%PDF-1.4 broken", headers={**headers, "Content-Type": "application/pdf"}
    )
    assert resp.status == 422
    resp = await gw.post("/v1/knowledge", data=b"  \n ", headers={**headers, "Content-Type": "text/plain"})
    assert resp.status == 422
    user = await gw.create_key(key, "user")
    resp = await gw.post("/v1/knowledge", data=b"hello", headers={**gw.bearer(user), "Content-Type": "text/plain"})
    assert resp.status == 403


async def test_search_never_crosses_tenants_through_the_route(gw: Gateway, redis, pool, rag_db, embedder):
    text = (
        "{name} opening hours: the {name} shop on Rua das Flores opens at nine and closes at seven. "
        "Questions go to hello@{domain}.example."
    )
    _, alpha = await gw.create_tenant("alpha")
    _, bravo = await gw.create_tenant("bravo")
    a_doc = await upload(gw, alpha, text.format(name="Alpha", domain="alpha").encode(), "text/plain")
    await upload(gw, bravo, text.format(name="Bravo", domain="bravo").encode(), "text/plain")
    groups = [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]
    async with running(redis, groups):
        await wait_for(lambda: indexed(gw, alpha, 1), timeout_s=60)
        await wait_for(lambda: indexed(gw, bravo, 1), timeout_s=60)
    for mode in ("hybrid", "vector", "keyword"):
        for q in ("Alpha opening hours", "hello@alpha.example", "shop on Rua das Flores"):
            seen_by_bravo = await search(gw, bravo, q, mode=mode)
            assert not [h for h in seen_by_bravo if "alpha" in h["text"].lower()], (mode, q)
            seen_by_alpha = await search(gw, alpha, q, mode=mode)
            assert seen_by_alpha and all("Alpha" in h["text"] for h in seen_by_alpha), (mode, q)
    assert (await gw.get(f"/v1/knowledge/{a_doc['id']}", headers=gw.bearer(bravo))).status == 404
    assert (await gw.delete(f"/v1/knowledge/{a_doc['id']}", headers=gw.bearer(bravo))).status == 404

"""The portal's search page: a knowledge document indexed by the real groups is found by a word in it, the
snippet's match is marked, and the hit links to its record's page; a snippet is escaped before its marks."""

from __future__ import annotations

from factories import running, wait_for
from test_rag_gateway import indexed, upload

from consumers.indexer import indexer_group
from consumers.projector import projector_group
from gateway.portal.search import marked
from rag.config import RagConfig


async def test_search_finds_a_document_by_a_word_and_opens_its_record(portal, redis, pool, rag_db, embedder):
    _, key = await portal.gw.create_tenant("Acme")
    text = b"Returns: we accept returns within 30 days. Refunds reach your card within five working days."
    await upload(portal.gw, key, text, "text/plain", title="Returns policy")
    async with running(redis, [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]):
        await wait_for(lambda: indexed(portal.gw, key, 1), timeout_s=60)

    page = await portal.sign_in(key)
    await page.get_by_role("link", name="Search").click()
    await page.get_by_label("Search for").fill("refunds")
    await page.get_by_label("How").select_option("keyword")
    await page.get_by_role("button", name="Search").click()
    results = page.locator("main ol")
    assert await results.locator("mark").first.inner_text() == "Refunds"
    await results.get_by_role("link", name="Returns policy").click()
    assert "Returns policy" in await page.get_by_role("heading", level=1).inner_text()

    await page.goto("/portal/search?q=nothing-like-this-anywhere&mode=keyword")
    assert "Nothing matches" in await page.locator("main").inner_text()


def test_a_snippet_is_escaped_before_its_marks_are_added():
    assert str(marked("a <i>x</i> **b** & **c**")) == "a &lt;i&gt;x&lt;/i&gt; <mark>b</mark> &amp; <mark>c</mark>"
    assert str(marked("**<script>**")) == "<mark>&lt;script&gt;</mark>"

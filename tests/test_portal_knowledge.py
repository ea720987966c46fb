"""The portal's knowledge page and search in a real browser: a file uploaded from the page is indexed by the real
groups, found from the search page, deleted and gone; a user sees no upload or delete and is refused when posting
directly; the API's size limit and problems apply. The search page finds a contact by part of his name and a product
by its SKU (their typed columns, rag/fields.py)."""

from __future__ import annotations

from factories import running, wait_for
from portal_helpers import Portal, csrf_of
from test_rag_gateway import search
from test_record_search import project, shop

from consumers.indexer import indexer_group
from consumers.projector import projector_group
from rag.config import RagConfig

RETURNS = b"# Returns\n\nWe accept returns within 30 days.\n\nRefunds reach your card within five working days."


async def documents(gw, key: str) -> list[dict]:
    return (await (await gw.get("/v1/knowledge", headers=gw.bearer(key))).json())["items"]


async def test_a_document_is_uploaded_found_and_deleted_from_the_portal(portal, redis, pool, rag_db, embedder):
    gw = portal.gw
    _, key = await gw.create_tenant("Acme")
    page = await portal.sign_in(key)
    await page.get_by_role("link", name="Knowledge").click()
    assert "No documents yet." in await page.locator("main").inner_text()
    await page.get_by_label("Title").fill("Returns policy")
    # a browser that does not know .md sends application/octet-stream: the name's suffix says Markdown
    upload = {"name": "returns.md", "mimeType": "application/octet-stream", "buffer": RETURNS}
    await page.get_by_label("File").set_input_files(files=[upload])
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_url("**/portal/knowledge?done=uploaded**")
    assert "Uploaded: Returns policy." in await page.get_by_role("status").inner_text()

    async with running(redis, [projector_group(pool, 8), indexer_group(pool, 8, RagConfig(), embedder)]):
        await wait_for(lambda: documents(gw, key), timeout_s=60)
        [doc] = await documents(gw, key)
        assert doc["media_type"] == "text/markdown" and doc["size_bytes"] == len(RETURNS)
        await wait_for(lambda: search(gw, key, "refunds", mode="keyword"), timeout_s=60)

        await page.goto("/portal/search?q=refunds&mode=keyword")
        await page.locator("main ol").get_by_role("link", name="Returns policy").click()
        assert "Returns policy" in await page.get_by_role("heading", level=1).inner_text()

        await page.goto("/portal/knowledge")
        table = page.get_by_role("region", name="Documents")
        assert "text/markdown" in await table.inner_text()
        await table.get_by_role("button", name="Delete Returns policy").click()
        await page.wait_for_url("**/portal/knowledge?done=deleted**")
        await wait_for(lambda: documents(gw, key), [], timeout_s=60)
        await wait_for(lambda: search(gw, key, "refunds", mode="keyword"), [], timeout_s=60)
    await page.goto("/portal/knowledge")
    assert "No documents yet." in await page.locator("main").inner_text()


async def test_a_user_cannot_upload_or_delete_and_the_api_limits_apply(make_gateway, browser):
    gw = await make_gateway(portal_key_signin=True, rag_knowledge_max_bytes=1000)
    portal = Portal(gw, str(gw.client.make_url("")).rstrip("/"), browser)
    try:
        _, admin_key = await gw.create_tenant("Acme")
        user = await portal.sign_in(await gw.create_key(admin_key, "user"))
        await user.goto("/portal/knowledge")
        assert await user.get_by_role("button", name="Upload").count() == 0
        files = {"name": "a.txt", "mimeType": "text/plain", "buffer": b"hello"}
        refused = await user.request.post("/portal/knowledge", multipart={"csrf": await csrf_of(user), "file": files})
        assert refused.status == 403

        page = await portal.sign_in(admin_key)
        await page.goto("/portal/knowledge")
        big = {"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 1001}
        await page.get_by_label("File").set_input_files(files=[big])
        await page.get_by_role("button", name="Upload").click()
        assert "bodies are limited to 1000 bytes" in await page.get_by_role("alert").inner_text()
        await page.goto("/portal/knowledge")
        image = {"name": "logo.png", "mimeType": "image/png", "buffer": b"\x89PNG"}
        await page.get_by_label("File").set_input_files(files=[image])
        await page.get_by_role("button", name="Upload").click()
        assert "send one of: text/plain" in await page.get_by_role("alert").inner_text()
        no_csrf = await page.request.post("/portal/knowledge", multipart={"file": files})
        assert no_csrf.status == 403
        assert await documents(gw, admin_key) == []
    finally:
        for context in portal.contexts:
            await context.close()


async def test_the_search_page_finds_a_contact_by_name_and_a_product_by_sku(portal, pool, rag_db):
    gw = portal.gw
    tenant, key = await gw.create_tenant("Acme")
    other, _ = await gw.create_tenant("Other")
    await project(pool, shop(tenant))
    await project(pool, shop(other, surname="Dorian"))  # another John, in another tenant

    async def search_state():
        return (await (await gw.get("/readyz")).json())["search"]

    await wait_for(search_state, "ready", timeout_s=180)
    page = await portal.sign_in(key)
    await page.get_by_role("link", name="Search").click()
    await page.get_by_label("Search for").fill("john")
    await page.get_by_role("button", name="Search").click()  # words and meaning
    results = page.locator("main ol")
    assert await results.get_by_role("link").all_inner_texts() == ["john.doe@example.com"]
    assert await results.locator("mark").all_inner_texts() == ["John", "john"]
    await results.get_by_role("link", name="john.doe@example.com").click()
    assert "john.doe@example.com" in await page.get_by_role("heading", level=1).inner_text()

    await page.goto("/portal/search?q=WAL-7731")
    links = await page.locator("main ol").get_by_role("link").all_inner_texts()
    assert links[:2] == ["Walnut wallet", "100421"]  # the product, then the order that holds it

"""Fixtures and builders of the RAG tests: the real local model (loaded once per session), clean RAG tables, text
entity events, and waiting until a group has handled everything published."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import T0, wait_for

from events.ids import new_id
from events.knowledge import KNOWLEDGE_SOURCE, KnowledgeDocument
from events.streams import all_event_streams, as_text
from events.types import (
    DocumentUpserted,
    Message,
    MessageUpserted,
    Post,
    PostDeleted,
    PostUpserted,
    Product,
    ProductDeleted,
    ProductUpserted,
    Subject,
)
from rag.embedders import LocalEmbedder

RAG_TABLES = "rag_chunks, rag_entities"


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The packaged all-MiniLM-L6-v2 (the process-wide model is loaded once; counters are read as differences)."""
    return LocalEmbedder(batch_size=32)


@pytest.fixture
async def rag_db(admin):
    """Empty RAG tables and only the default index (migration 0003's index 1), active."""
    await admin.execute(f"TRUNCATE {RAG_TABLES}")
    for row in await admin.fetch("SELECT id FROM rag_indexes WHERE id <> 1"):
        await admin.execute(f"DROP INDEX IF EXISTS rag_chunks_hnsw_{int(row['id'])}")
    await admin.execute("DELETE FROM rag_indexes WHERE id <> 1")
    await admin.execute("UPDATE rag_indexes SET state = 'active' WHERE id = 1")
    await admin.execute(
        "CREATE INDEX IF NOT EXISTS rag_chunks_hnsw_1 ON rag_chunks "  # a reindex test dropped it
        "USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE index_id = 1"
    )
    return admin


def _at(version: int):
    return T0 + timedelta(minutes=version)


def _envelope(tenant: str, kind: str, external_id: str, version: int, source: str, provider: str) -> dict:
    return dict(
        id=new_id(),
        tenant_id=tenant,
        source=source,
        provider=provider,
        subject=Subject(kind=kind, external_id=external_id),
        occurred_at=_at(version),
        recorded_at=_at(version),
    )


def product(
    tenant: str,
    external_id: str,
    name: str,
    description: str = "",
    sku: str = "",
    version: int = 1,
    price_minor: int = 1000,
    deleted: bool = False,
    source: str = "shop-1",
):
    env = _envelope(tenant, "product", external_id, version, source, "woocommerce")
    if deleted:
        return ProductDeleted(**env)
    return ProductUpserted(
        **env, data=Product(name=name, sku=sku, description=description, price_minor=price_minor, status="publish")
    )


def post(
    tenant: str,
    external_id: str,
    title: str,
    content: str,
    version: int = 1,
    deleted: bool = False,
    source: str = "blog-1",
):
    env = _envelope(tenant, "post", external_id, version, source, "wordpress")
    if deleted:
        return PostDeleted(**env)
    return PostUpserted(**env, data=Post(title=title, content=content, status="publish"))


def message(tenant: str, external_id: str, text: str, version: int = 1, source: str = "slack-1"):
    env = _envelope(tenant, "message", external_id, version, source, "slack")
    return MessageUpserted(**env, data=Message(channel="slack", sender="ana", text=text))


def document(
    tenant: str, external_id: str, title: str, content: str, agents: list[str] | None = None, version: int = 1
):
    env = _envelope(tenant, "document", external_id, version, KNOWLEDGE_SOURCE, "knowledge")
    return DocumentUpserted(**env, data=KnowledgeDocument(title=title, content=content, agents=agents or []))


async def handled_everything(redis, group: str, partitions: int = 8) -> bool:
    """True when the group has read and acknowledged every entry of every partition stream."""
    for stream in all_event_streams(partitions):
        if not await redis.exists(stream):
            continue
        infos = [i for i in await redis.xinfo_groups(stream) if as_text(i["name"]) == group]
        if not infos or infos[0]["pending"] or infos[0]["lag"]:
            return False
    return True


async def drain(redis, group: str = "indexer", timeout_s: float = 60.0) -> None:
    await wait_for(lambda: handled_everything(redis, group), timeout_s=timeout_s)


async def chunk_texts(admin, tenant: str, kind: str, external_id: str, index_id: int = 1) -> list[str]:
    rows = await admin.fetch(
        "SELECT content FROM rag_chunks WHERE tenant_id = $1 AND index_id = $2 AND kind = $3 AND external_id = $4 "
        "ORDER BY chunk_no",
        tenant,
        index_id,
        kind,
        external_id,
    )
    return [r["content"] for r in rows]


def pdf_of_pages(texts: list[str]) -> bytes:
    """A PDF with one line of text per page (Helvetica), written by hand: no PDF writer needed in the tests."""
    font = 3 + 2 * len(texts)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(texts)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(texts)} >>".encode()]
    for i, text in enumerate(texts):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)

"""Search as a service for one process: embed the query, read the active index in a tenant transaction, and give
agents the same hits as numbered citations."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from db.pool import tenant_transaction
from events.ids import opaque_id
from rag.config import RagConfig
from rag.embedders import Embedder, LazyEmbedder
from rag.fields import FieldHit, search_fields
from rag.indexes import active_index
from rag.search import Filters, Hit, Mode, search


class SearchUnavailable(RuntimeError):
    """No active index, or it was built with another model than this process embeds queries with."""


class Searcher:
    def __init__(self, pool: asyncpg.Pool, config: RagConfig = RagConfig(), embedder: Embedder | None = None) -> None:
        self.pool, self.config = pool, config
        self._embedder = LazyEmbedder(config, embedder)

    async def embedder(self) -> Embedder:
        """Made on first use (loading the local model takes seconds: not at start-up, not on the event loop)."""
        return await self._embedder.get()

    async def close(self) -> None:
        await self._embedder.close()

    async def search(
        self, tenant_id: str, query: str, k: int = 10, mode: Mode = "hybrid", filters: Filters = Filters()
    ) -> list[Hit]:
        vector, embedder = None, None
        if mode != "keyword":
            embedder = await self.embedder()
            vector = (await embedder.embed([query]))[0]
        async with tenant_transaction(self.pool, tenant_id) as conn:
            index = await active_index(conn)
            if index is None:
                raise SearchUnavailable("there is no active search index: run `bizosaas migrate`")
            if embedder is not None and (index.model, index.dimension) != (embedder.model_id, embedder.dimension):
                raise SearchUnavailable(
                    f"the active index holds {index.model} vectors ({index.dimension} dimensions) but this process "
                    f"embeds queries with {embedder.model_id}; keyword search still works"
                )
            return await search(conn, index, query, vector, k, mode, filters, self.config)

    async def find_records(
        self, tenant_id: str, query: str, k: int = 10, filters: Filters = Filters()
    ) -> list[FieldHit]:
        """Records found by their typed fields (contacts, companies, leads, orders, products: rag/fields.py)."""
        async with tenant_transaction(self.pool, tenant_id) as conn:
            return await search_fields(conn, query, k, filters)


@dataclass(frozen=True)
class Citation:
    n: int  # the number an answer cites: [n]
    record_id: str  # the record's id in /v1/records/{kind}/{id}
    kind: str
    source: str
    external_id: str
    title: str
    url: str | None
    text: str
    score: float


def record_id(tenant_id: str, hit: Hit) -> str:
    return opaque_id("rec", tenant_id, hit.kind, hit.source, hit.external_id)


async def retrieve(
    searcher: Searcher, tenant_id: str, query: str, agent: str | None = None, k: int = 5, kinds: tuple[str, ...] = ()
) -> list[Citation]:
    """The context an agent may see for a question: hybrid search within its scope, as numbered citations."""
    hits = await searcher.search(tenant_id, query, k, "hybrid", Filters(kinds=kinds, agent=agent))
    return [
        Citation(n, record_id(tenant_id, h), h.kind, h.source, h.external_id, h.title, h.url, h.content, h.score)
        for n, h in enumerate(hits, start=1)
    ]


def as_context(citations: list[Citation]) -> str:
    """Citations as prompt text: `[n] title (kind source/external_id)` followed by the chunk."""
    return "\n\n".join(
        f"[{c.n}] {c.title or c.kind} ({c.kind} {c.source}/{c.external_id}{', ' + c.url if c.url else ''})\n{c.text}"
        for c in citations
    )

"""Index a batch of entity states: plan every tenant's states, embed all new chunk texts in one call (across events
and tenants, so the model sees full batches), write. Used by the indexer group and by `bizosaas rag reindex`."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from db.pool import set_tenant
from rag.chunking import chunk_text
from rag.config import RagConfig
from rag.embedders import Embedder
from rag.indexes import Index
from rag.store import Chunker, Plan, apply, plan, texts_to_embed
from rag.texts import EntityState


@dataclass
class Indexed:
    states: int = 0
    embedded: int = 0  # texts sent to the model
    chunks_written: int = 0


def make_chunker(embedder: Embedder, config: RagConfig) -> Chunker:
    max_tokens = min(config.rag_chunk_tokens, embedder.max_tokens)
    overlap = min(config.rag_chunk_overlap_tokens, max_tokens // 4)
    return functools.partial(chunk_text, count=embedder.count_tokens, max_tokens=max_tokens, overlap_tokens=overlap)


async def index_states(
    conn: asyncpg.Connection,
    indexes: Sequence[Index],
    states: Sequence[EntityState],
    embedder: Embedder,
    chunker: Chunker,
) -> Indexed:
    """Call inside one transaction: it switches the row-level-security tenant before each tenant's statements."""
    by_tenant: dict[str, list[EntityState]] = defaultdict(list)
    for state in states:
        by_tenant[state.tenant_id].append(state)
    plans = {}
    for tenant in sorted(by_tenant):  # one order everywhere: concurrent batches lock in the same order
        await set_tenant(conn, tenant)
        plans[tenant] = await plan(conn, indexes, by_tenant[tenant], chunker)
    result = await embed_and_apply(conn, plans, embedder)
    result.states = len(states)
    return result


async def embed_and_apply(conn: asyncpg.Connection, plans: dict[str, Sequence[Plan]], embedder: Embedder) -> Indexed:
    """The second half of indexing, in the transaction the plans were made in: embed the new chunk texts of every
    tenant's plans in one call, then write each tenant's plans (switching the tenant, in sorted order)."""
    hashes, texts = texts_to_embed([p for tenant in sorted(plans) for p in plans[tenant]])
    vectors = await embedder.embed(texts)
    embedded = dict(zip(hashes, vectors))
    result = Indexed(embedded=len(texts))
    for tenant in sorted(plans):
        await set_tenant(conn, tenant)
        result.chunks_written += await apply(conn, plans[tenant], embedded)
    return result

"""The indexer group: keep every text-bearing entity's chunks and embeddings in pgvector in step with the event log.

It reads the same partition streams as the projector. Per batch: the newest state per entity, then one transaction
that plans every tenant's states (row-level security switched per tenant), embeds all new chunk texts in one call
(chunks of many events share the model's batches) and writes. Idempotent through the ordering rule and the content
hashes (rag/store.py): a re-delivered or replayed event changes nothing and embeds nothing that is already stored.
It writes into every live index of its own model (the active one, and the one a reindex is building).
HTML is converted to text in the group's conversion processes before the transaction (rag/texts.py, convert_texts).
"""

from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client import Counter

from consumers.base import Group
from consumers.delivery import Delivery
from events.streams import all_event_streams
from rag.config import RagConfig
from rag.convert import Converter
from rag.embedders import Embedder, make_embedder
from rag.indexes import NoIndexForModel, live_indexes
from rag.pipeline import index_states, make_chunker
from rag.store import Chunker
from rag.texts import convert_texts, newest_states

GROUP = "indexer"

CHUNKS_WRITTEN = Counter("bizosaas_rag_chunks_written_total", "Chunk rows written by the indexer (new or changed)")
STATES_INDEXED = Counter("bizosaas_rag_entity_states_total", "Entity states applied by the indexer")


def indexer_group(
    pool: asyncpg.Pool, partitions: int, config: RagConfig | None = None, embedder: Embedder | None = None
) -> Group:
    """The group; without an embedder, the configured one is made on the first batch (the local model loads for
    seconds: in a thread, so a worker starts, serves /metrics and runs its other groups meanwhile)."""
    config = config or RagConfig()
    ready: list[tuple[Embedder, Chunker]] = [(embedder, make_chunker(embedder, config))] if embedder else []
    loading = asyncio.Lock()
    converter = Converter(config.rag_parse_timeout_s, config.rag_parse_workers)  # its children start on first use

    async def model() -> tuple[Embedder, Chunker]:
        async with loading:
            if not ready:
                made = await asyncio.to_thread(make_embedder, config)
                ready.append((made, make_chunker(made, config)))
        return ready[0]

    async def handle(batch: list[Delivery]) -> None:
        states = newest_states((d.message, d.position, d.replayed) for d in batch)
        if not states:
            return
        await convert_texts(states, converter, config.rag_max_text_chars)
        embedder, chunker = await model()
        async with pool.acquire() as conn, conn.transaction():
            indexes = await live_indexes(conn, embedder.model_id, embedder.dimension)
            if not indexes:
                raise NoIndexForModel(
                    f"no live index for {embedder.model_id} ({embedder.dimension} dimensions): run "
                    "`bizosaas rag reindex` with this model, or run the worker with the active index's model"
                )
            result = await index_states(conn, indexes, states, embedder, chunker)
        CHUNKS_WRITTEN.inc(result.chunks_written)
        STATES_INDEXED.inc(result.states)

    return Group(GROUP, all_event_streams(partitions), handle)

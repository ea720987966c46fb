"""The indexer group: keep every text-bearing entity's chunks and embeddings in pgvector in step with the event log.

It reads the same partition streams as the projector, and wants only the upserted/deleted events of the indexed
kinds (rag/texts.py). Per batch, through the group hooks (consumers/group.py):
- prepare, before the transaction: the newest state per entity, HTML converted to text in the group's conversion
  processes (rag/texts.py, convert_texts), the embedding model loaded on the first batch (rag.embedders.LazyEmbedder:
  in a thread, so a worker starts, serves /metrics and runs its other groups meanwhile);
- the per-tenant handler, in the batch's one transaction with the tenant set: plan the tenant's states (lock, the
  ordering rule, chunk, find the vectors already stored);
- before_commit, in the same transaction after every tenant: embed the new chunk texts of ALL the batch's tenants in
  one call (chunks of many events and tenants share the model's batches), then write each tenant's plans
  (rag.pipeline.embed_and_apply, which switches the tenant per tenant as writing needs it).
Planning stays per tenant in the handler (the framework's tenant loop) and only the embedding, which must see every
tenant's texts at once, is the indexer's own step: a per-tenant embed would cut the model's batches into small ones.
Idempotent through the ordering rule and the content hashes (rag/store.py): a re-delivered or replayed event changes
nothing and embeds nothing that is already stored. It writes into every live index of its own model (the active
one, and the one a reindex is building).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from prometheus_client import Counter

from consumers.entry import Entry
from consumers.group import Batch, Group
from events.streams import all_event_streams
from events.types import DELETED_BY_KIND, UPSERTED_BY_KIND
from rag.config import RagConfig
from rag.convert import Converter
from rag.embedders import Embedder, LazyEmbedder
from rag.indexes import Index, NoIndexForModel, live_indexes
from rag.pipeline import Indexed, embed_and_apply, make_chunker
from rag.store import Chunker, Plan, plan
from rag.texts import INDEXED_KINDS, EntityState, convert_texts, newest_states

GROUP = "indexer"
TYPES = frozenset(cls.__struct_config__.tag for k in INDEXED_KINDS for cls in (UPSERTED_BY_KIND[k], DELETED_BY_KIND[k]))

CHUNKS_WRITTEN = Counter("bizosaas_rag_chunks_written_total", "Chunk rows written by the indexer (new or changed)")
STATES_INDEXED = Counter("bizosaas_rag_entity_states_total", "Entity states applied by the indexer")


@dataclass
class Work:
    """One batch's indexing (Batch.state)."""

    states: dict[str, list[EntityState]]  # tenant -> its newest states
    embedder: Embedder
    chunker: Chunker
    indexes: list[Index] | None = None  # looked up once, in the transaction
    result: Indexed = field(default_factory=Indexed)


def indexer_group(
    pool: asyncpg.Pool, partitions: int, config: RagConfig | None = None, embedder: Embedder | None = None
) -> Group:
    """The group; without an embedder, the configured one is made on the first batch."""
    config = config or RagConfig()
    model = LazyEmbedder(config, embedder)
    converter = Converter(config.rag_parse_timeout_s, config.rag_parse_workers)  # its children start on first use

    async def prepare(batch: Batch) -> None:
        states = newest_states((e.message, e.position, e.replayed) for e in batch.entries)
        await convert_texts(states, converter, config.rag_max_text_chars)
        by_tenant: dict[str, list[EntityState]] = {}
        for state in states:
            by_tenant.setdefault(state.tenant_id, []).append(state)
        made = await model.get()
        batch.state = Work(by_tenant, made, make_chunker(made, config))

    async def plan_tenant(conn: asyncpg.Connection, tenant: str, entries: list[Entry], batch: Batch) -> list[Plan]:
        work: Work = batch.state
        if work.indexes is None:
            work.indexes = await live_indexes(conn, work.embedder.model_id, work.embedder.dimension)
            if not work.indexes:
                raise NoIndexForModel(
                    f"no live index for {work.embedder.model_id} ({work.embedder.dimension} dimensions): run "
                    "`bizosaas rag reindex` with this model, or run the worker with the active index's model"
                )
        return await plan(conn, work.indexes, work.states.get(tenant, []), work.chunker)

    async def embed_and_write(conn: asyncpg.Connection, batch: Batch) -> None:
        work: Work = batch.state
        work.result = await embed_and_apply(conn, batch.results, work.embedder)
        work.result.states = sum(map(len, work.states.values()))

    async def count(batch: Batch) -> None:
        CHUNKS_WRITTEN.inc(batch.state.result.chunks_written)
        STATES_INDEXED.inc(batch.state.result.states)

    return Group(
        GROUP,
        all_event_streams(partitions),
        plan_tenant,
        pool,
        types=TYPES,
        prepare=prepare,
        before_commit=embed_and_write,
        after_commit=count,
    )

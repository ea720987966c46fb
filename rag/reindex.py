"""Re-embed everything into a new index and switch search over to it atomically (`bizosaas rag reindex`).

The source is `records` (the projector's current state of every entity), read as the owner across tenants. The work
list is a query, not a cursor: the records whose state is newer than what the new index holds (or that it lacks), so
an interrupted reindex resumes where it stopped and a pass over changes made meanwhile is the same query again.
Search keeps reading the active index throughout; the switch is one transaction; the old index is dropped after a
grace period so that queries that looked it up just before the switch still find its rows.

While it runs, indexer workers of the same model write into both indexes. Workers of another model keep the old
index fresh; after the switch they back off (no live index of their model) until restarted with the new model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

import asyncpg
import msgspec

from events.types import UPSERTED_BY_KIND
from rag.embedders import Embedder
from rag.indexes import Index, activate, all_indexes, create_index, drop_index
from rag.pipeline import index_states, make_chunker
from rag.config import RagConfig
from rag.texts import INDEXED_KINDS, EntityState, state_of

DATA_TYPES = {kind: next(f.type for f in msgspec.structs.fields(UPSERTED_BY_KIND[kind]) if f.name == "data")
              for kind in INDEXED_KINDS}

_BEHIND = """
FROM records r
LEFT JOIN rag_entities e ON e.index_id = $1
     AND (e.tenant_id, e.kind, e.source, e.external_id) = (r.tenant_id, r.kind, r.source, r.external_id)
WHERE r.kind = ANY($2::text[])
  AND (CASE WHEN e.tenant_id IS NULL THEN NOT r.deleted
            ELSE (r.updated_at, r.stream_ms, r.stream_seq) > (e.updated_at, e.stream_ms, e.stream_seq) END)
"""
BEHIND_SQL = f"""
SELECT r.tenant_id, r.kind, r.source, r.external_id, r.updated_at, r.stream_ms, r.stream_seq, r.deleted,
       r.data::text AS data
{_BEHIND} ORDER BY r.tenant_id, r.kind, r.source, r.external_id LIMIT $3
"""
COUNT_BEHIND_SQL = f"SELECT count(*) {_BEHIND}"


@dataclass
class Reindexed:
    index: Index
    replaced: Index | None
    entities: int = 0
    embedded: int = 0


def _state(row: asyncpg.Record) -> EntityState:
    data = None if row["deleted"] else msgspec.json.decode(row["data"], type=DATA_TYPES[row["kind"]])
    return state_of(row["tenant_id"], row["kind"], row["source"], row["external_id"], row["updated_at"],
                    (row["stream_ms"], row["stream_seq"]), data)


async def building_index(owner: asyncpg.Connection, embedder: Embedder) -> Index:
    """The unfinished index of this model (an interrupted reindex resumes), or a new one."""
    for index in await all_indexes(owner):
        if index.state == "building" and (index.model, index.dimension) == (embedder.model_id, embedder.dimension):
            return index
    return await create_index(owner, embedder.model_id, embedder.dimension)


async def catch_up(owner: asyncpg.Connection, index: Index, embedder: Embedder, config: RagConfig,
                   progress: Callable[[int, int], None] | None = None, page: int = 256) -> tuple[int, int]:
    """Index every record the index is behind on; returns (entities, texts embedded)."""
    kinds = sorted(INDEXED_KINDS)
    total = await owner.fetchval(COUNT_BEHIND_SQL, index.id, kinds)
    chunker = make_chunker(embedder, config)
    done = embedded = 0
    while rows := await owner.fetch(BEHIND_SQL, index.id, kinds, page):
        async with owner.transaction():
            result = await index_states(owner, [index], [_state(r) for r in rows], embedder, chunker)
        done, embedded = done + len(rows), embedded + result.embedded
        if progress:
            progress(done, max(total, done))
    return done, embedded


async def reindex(owner: asyncpg.Connection, embedder: Embedder, config: RagConfig,
                  progress: Callable[[int, int], None] | None = None, grace_s: float = 2.0,
                  keep_old: bool = False) -> Reindexed:
    index = await building_index(owner, embedder)
    entities, embedded = await catch_up(owner, index, embedder, config, progress)
    async with owner.transaction():  # the last changes and the switch commit together
        more, more_embedded = await catch_up(owner, index, embedder, config)
        replaced = await activate(owner, index)
    result = Reindexed(Index(index.id, index.model, index.dimension, "active"), replaced, entities + more,
                       embedded + more_embedded)
    if replaced is not None and replaced.id != index.id:
        await asyncio.sleep(grace_s)  # searches that read the old index id just before the switch finish first
        more, more_embedded = await catch_up(owner, result.index, embedder, config)  # projected meanwhile
        result.entities += more
        result.embedded += more_embedded
        if not keep_old:
            await drop_index(owner, replaced)
    return result

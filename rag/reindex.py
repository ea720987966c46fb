"""Re-embed everything into a new index and switch search over to it atomically (`bizosaas rag reindex`).

The source is `records` (the projector's current state of every entity). The owner connection only makes and
switches indexes (DDL, `rag_indexes`) and lists which tenants have records; every row read or written goes through
the service role's pool in a transaction with the tenant set, so row-level security holds as everywhere else (the
store's statements also name the tenant). The work list is a query, not a cursor: per tenant, the records whose
state is newer than what the new index holds (or that it lacks), so an interrupted reindex resumes where it stopped
and a pass over changes made meanwhile is the same query again. Search keeps reading the active index throughout;
the switch is one transaction, followed by a pass over what was projected during the last one; the old index is
dropped after a grace period so that queries that looked it up just before the switch still find its rows.

While it runs, indexer workers of the same model write into both indexes. Workers of another model keep the old
index fresh; after the switch they back off (no live index of their model) until restarted with the new model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import msgspec

from db.pool import tenant_transaction
from events.types import UPSERTED_BY_KIND
from rag.config import RagConfig
from rag.convert import Converter
from rag.embedders import Embedder
from rag.indexes import Index, activate, all_indexes, create_index, drop_index
from rag.pipeline import index_states, make_chunker
from rag.texts import INDEXED_KINDS, EntityState, convert_texts, state_of

DATA_TYPES = {
    kind: next(f.type for f in msgspec.structs.fields(UPSERTED_BY_KIND[kind]) if f.name == "data")
    for kind in INDEXED_KINDS
}

TENANTS_SQL = "SELECT DISTINCT tenant_id FROM records WHERE kind = ANY($1::text[]) ORDER BY 1"  # ids only
_BEHIND = """
FROM records r
LEFT JOIN rag_entities e ON e.index_id = $1 AND e.tenant_id = r.tenant_id
     AND (e.kind, e.source, e.external_id) = (r.kind, r.source, r.external_id)
WHERE r.tenant_id = current_setting('app.tenant_id') AND r.kind = ANY($2::text[])
  AND (CASE WHEN e.tenant_id IS NULL THEN NOT r.deleted
            ELSE (r.updated_at, r.stream_ms, r.stream_seq) > (e.updated_at, e.stream_ms, e.stream_seq) END)
"""
BEHIND_SQL = f"""
SELECT r.tenant_id, r.kind, r.source, r.external_id, r.updated_at, r.stream_ms, r.stream_seq, r.deleted,
       r.data::text AS data
{_BEHIND} ORDER BY r.kind, r.source, r.external_id LIMIT $3
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
    return state_of(
        row["tenant_id"],
        row["kind"],
        row["source"],
        row["external_id"],
        row["updated_at"],
        (row["stream_ms"], row["stream_seq"]),
        data,
    )


async def building_index(owner: asyncpg.Connection, embedder: Embedder) -> Index:
    """The unfinished index of this model (an interrupted reindex resumes), or a new one."""
    for index in await all_indexes(owner):
        if index.state == "building" and (index.model, index.dimension) == (embedder.model_id, embedder.dimension):
            return index
    return await create_index(owner, embedder.model_id, embedder.dimension)


async def catch_up(
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    index: Index,
    embedder: Embedder,
    config: RagConfig,
    progress: Callable[[int, int], None] | None = None,
    page: int = 256,
    converter: Converter | None = None,
) -> tuple[int, int]:
    """Index every record the index is behind on, tenant by tenant; returns (entities, texts embedded)."""
    kinds = sorted(INDEXED_KINDS)
    tenants = [r["tenant_id"] for r in await owner.fetch(TENANTS_SQL, kinds)]
    own = converter is None
    converter = converter or Converter(config.rag_parse_timeout_s, config.rag_parse_workers)
    total = 0
    for tenant in tenants:
        async with tenant_transaction(pool, tenant) as conn:
            total += await conn.fetchval(COUNT_BEHIND_SQL, index.id, kinds)
    chunker = make_chunker(embedder, config)
    done = embedded = 0
    try:
        for tenant in tenants:
            while True:
                async with tenant_transaction(pool, tenant) as conn:
                    rows = await conn.fetch(BEHIND_SQL, index.id, kinds, page)
                if not rows:
                    break
                states = [_state(r) for r in rows]
                await convert_texts(states, converter, config.rag_max_text_chars)
                async with pool.acquire() as conn, conn.transaction():  # index_states sets the tenant
                    result = await index_states(conn, [index], states, embedder, chunker)
                done, embedded = done + len(rows), embedded + result.embedded
                if progress:
                    progress(done, max(total, done))
    finally:
        if own:
            await converter.close()
    return done, embedded


async def reindex(
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    embedder: Embedder,
    config: RagConfig,
    progress: Callable[[int, int], None] | None = None,
    grace_s: float = 2.0,
    keep_old: bool = False,
) -> Reindexed:
    """`owner` makes and switches the index; `pool` (the service role) reads and writes every row."""
    converter = Converter(config.rag_parse_timeout_s, config.rag_parse_workers)
    try:
        index = await building_index(owner, embedder)
        entities, embedded = await catch_up(owner, pool, index, embedder, config, progress, converter=converter)
        more, more_embedded = await catch_up(owner, pool, index, embedder, config, converter=converter)
        async with owner.transaction():
            replaced = await activate(owner, index)
        result = Reindexed(
            Index(index.id, index.model, index.dimension, "active"), replaced, entities + more, embedded + more_embedded
        )
        if replaced is not None and replaced.id != index.id:
            await asyncio.sleep(grace_s)  # searches that read the old index id just before the switch finish first
        more, more_embedded = await catch_up(
            owner, pool, result.index, embedder, config, converter=converter
        )  # projected meanwhile
        result.entities += more
        result.embedded += more_embedded
        if replaced is not None and replaced.id != index.id and not keep_old:
            await drop_index(owner, replaced)
    finally:
        await converter.close()
    return result

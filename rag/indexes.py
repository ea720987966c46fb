"""Indexes: one embedding model at one dimension each. One is `active` (what search reads); `bizosaas rag reindex`
builds the next one (`building`) and switches over in one transaction; the old one is `retired` and then dropped.

Each index's vectors have their own partial HNSW index on `(embedding::vector(dim)) WHERE index_id = N`. Queries
must name N and dim as literals for the planner to use it, so the SQL text is built from these integers (read from
our own table, never from a request).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from events.errors import TransientError


@dataclass(frozen=True)
class Index:
    id: int
    model: str
    dimension: int
    state: str

    @property
    def vector_sql(self) -> str:
        """The expression the index's HNSW index is built on."""
        return f"embedding::vector({int(self.dimension)})"

    @property
    def hnsw_name(self) -> str:
        return f"rag_chunks_hnsw_{int(self.id)}"


class NoIndexForModel(TransientError):
    """No live index for this worker's embedding model. Transient: the runtime backs off and retries the batch (never
    dead-letters it), as the infrastructure is not ready until `bizosaas rag reindex` builds one or the worker is
    restarted with the active index's model."""


COLUMNS = "id, model, dimension, state"


async def active_index(conn: asyncpg.Connection) -> Index | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM rag_indexes WHERE state = 'active'")
    return Index(**row) if row else None


async def live_indexes(conn: asyncpg.Connection, model: str, dimension: int) -> list[Index]:
    """The active and building indexes of this model: the indexer writes into each of them."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM rag_indexes WHERE state <> 'retired' AND model = $1 AND dimension = $2 ORDER BY id",
        model,
        dimension,
    )
    return [Index(**r) for r in rows]


async def all_indexes(conn: asyncpg.Connection) -> list[Index]:
    return [Index(**r) for r in await conn.fetch(f"SELECT {COLUMNS} FROM rag_indexes ORDER BY id")]


async def create_index(owner: asyncpg.Connection, model: str, dimension: int) -> Index:
    """A new `building` index and its HNSW index (owner connection: DDL)."""
    row = await owner.fetchrow(
        f"INSERT INTO rag_indexes (model, dimension, state) VALUES ($1, $2, 'building') RETURNING {COLUMNS}",
        model,
        dimension,
    )
    index = Index(**row)
    await owner.execute(
        f"CREATE INDEX IF NOT EXISTS {index.hnsw_name} ON rag_chunks USING hnsw (({index.vector_sql}) "
        f"vector_cosine_ops) WHERE index_id = {int(index.id)}"
    )
    return index


async def activate(owner: asyncpg.Connection, index: Index) -> Index | None:
    """Make `index` the active one; returns the index it replaced (now retired). Call inside a transaction."""
    previous = await owner.fetchrow(f"SELECT {COLUMNS} FROM rag_indexes WHERE state = 'active' FOR UPDATE")
    await owner.execute("UPDATE rag_indexes SET state = 'retired' WHERE state = 'active'")
    await owner.execute("UPDATE rag_indexes SET state = 'active', activated_at = now() WHERE id = $1", index.id)
    return Index(**previous) if previous else None


async def drop_index(owner: asyncpg.Connection, index: Index) -> None:
    """Remove a retired index's rows and its HNSW index (owner connection: row-level security does not apply)."""
    async with owner.transaction():
        await owner.execute("DELETE FROM rag_chunks WHERE index_id = $1", index.id)
        await owner.execute("DELETE FROM rag_entities WHERE index_id = $1", index.id)
        await owner.execute(f"DROP INDEX IF EXISTS {index.hnsw_name}")
        await owner.execute("UPDATE rag_indexes SET state = 'retired' WHERE id = $1", index.id)

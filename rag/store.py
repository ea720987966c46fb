"""Writing entity states into an index: plan (lock, apply the ordering rule, chunk, find what is already embedded),
embed only the new texts, then write. Call both steps inside one transaction with the tenant set (db.pool.set_tenant).
Every statement also names the tenant itself: on a connection that row-level security does not apply to (the owner),
statements keyed only by (kind, source, external_id) read and wrote other tenants' entities of the same ids.

Idempotent: a state that is not newer than the stored one changes nothing; a chunk whose text hash is already stored
for the entity reuses its vector (also when it moved to another position); chunks past the new end are removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from rag.chunking import Chunk, content_hash
from rag.indexes import Index
from rag.texts import EntityState

Chunker = Callable[[str], list[Chunk]]

_KEYS = "unnest($2::text[], $3::text[], $4::text[]) AS k(kind, source, external_id)"
ENTITIES_SQL = f"""
SELECT e.index_id, e.kind, e.source, e.external_id, e.updated_at, e.stream_ms, e.stream_seq, e.text_hash, e.chunks
FROM rag_entities e JOIN {_KEYS} USING (kind, source, external_id)
WHERE e.index_id = ANY($1::int[]) AND e.tenant_id = current_setting('app.tenant_id')
"""
CHUNKS_SQL = f"""
SELECT c.index_id, c.kind, c.source, c.external_id, c.chunk_no, c.content_hash, c.embedding
FROM rag_chunks c JOIN {_KEYS} USING (kind, source, external_id)
WHERE c.index_id = ANY($1::int[]) AND c.tenant_id = current_setting('app.tenant_id')
"""
LOCK_SQL = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k"
UPSERT_ENTITY_SQL = """
INSERT INTO rag_entities AS e (tenant_id, index_id, kind, source, external_id, title, url, agents, updated_at,
                               stream_ms, stream_seq, deleted, text_hash, chunks)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, index_id, kind, source, external_id) DO UPDATE SET
    title = excluded.title, url = excluded.url, agents = excluded.agents, updated_at = excluded.updated_at,
    stream_ms = excluded.stream_ms, stream_seq = excluded.stream_seq, deleted = excluded.deleted,
    text_hash = excluded.text_hash, chunks = excluded.chunks
"""
UPSERT_CHUNK_SQL = """
INSERT INTO rag_chunks (tenant_id, index_id, kind, source, external_id, chunk_no, content_hash, content, embedding,
                        agents, updated_at)
VALUES (current_setting('app.tenant_id'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, index_id, kind, source, external_id, chunk_no) DO UPDATE SET
    content_hash = excluded.content_hash, content = excluded.content, embedding = excluded.embedding,
    agents = excluded.agents, updated_at = excluded.updated_at
"""
# metadata of the chunks that keep their text (a price change moves updated_at, a new scope moves agents)
TOUCH_CHUNKS_SQL = """
UPDATE rag_chunks SET agents = $6, updated_at = $7
WHERE tenant_id = current_setting('app.tenant_id') AND index_id = $1 AND kind = $2 AND source = $3
  AND external_id = $4 AND chunk_no < $5
  AND (agents, updated_at) IS DISTINCT FROM ($6, $7)
"""
TRIM_CHUNKS_SQL = """
DELETE FROM rag_chunks
WHERE tenant_id = current_setting('app.tenant_id') AND index_id = $1 AND kind = $2 AND source = $3
  AND external_id = $4 AND chunk_no >= $5
"""


@dataclass(slots=True)
class Plan:
    """What writing one entity state into one index takes."""

    index_id: int
    state: EntityState
    text_hash: bytes | None = None
    chunks: list[Chunk] | None = None  # None: the text did not change (or the entity is deleted)
    stored: dict[int, bytes] = field(default_factory=dict)  # chunk_no -> hash stored now
    vectors: dict[bytes, np.ndarray] = field(default_factory=dict)  # hash -> vector stored now (for reuse)
    chunk_count: int = 0

    def missing(self) -> list[Chunk]:
        return [c for c in self.chunks or () if c.hash not in self.vectors]


def _lock_key(tenant: str, key: tuple[str, str, str]) -> int:
    digest = hashlib.blake2b("\x1f".join((tenant, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _key_arrays(states: Sequence[EntityState]) -> list[list[str]]:
    return [[s.kind for s in states], [s.source for s in states], [s.external_id for s in states]]


async def plan(
    conn: asyncpg.Connection, indexes: Sequence[Index], states: Sequence[EntityState], chunker: Chunker
) -> list[Plan]:
    """Plans for one tenant's states (the transaction's tenant) in every given index; locks the entities."""
    if not states:
        return []
    tenant = states[0].tenant_id
    await conn.execute(LOCK_SQL, sorted({_lock_key(tenant, s.key) for s in states}))
    ids = [i.id for i in indexes]
    stored = {
        (r["index_id"], r["kind"], r["source"], r["external_id"]): r
        for r in await conn.fetch(ENTITIES_SQL, ids, *_key_arrays(states))
    }
    plans: list[Plan] = []
    chunked: dict[tuple[str, str, str], list[Chunk]] = {}
    for state in states:
        text_hash = None if state.deleted else content_hash(state.text)
        for index in indexes:
            row = stored.get((index.id, *state.key))
            if row is not None and (row["updated_at"], row["stream_ms"], row["stream_seq"]) > state.version:
                continue  # an older state than the one indexed: the ordering rule keeps the newer
            p = Plan(index.id, state, text_hash, chunk_count=row["chunks"] if row else 0)
            if not state.deleted and (row is None or row["text_hash"] != text_hash or state.force):
                if state.key not in chunked:  # once per state, however many indexes it goes into
                    chunked[state.key] = chunker(state.text)
                p.chunks = chunked[state.key]
            plans.append(p)
    changed = [p for p in plans if p.chunks is not None]
    if changed:
        by_entity = {(p.index_id, *p.state.key): p for p in changed}
        rows = await conn.fetch(CHUNKS_SQL, ids, *_key_arrays([p.state for p in changed]))
        for r in rows:
            p = by_entity.get((r["index_id"], r["kind"], r["source"], r["external_id"]))
            if p is not None:
                p.stored[r["chunk_no"]] = r["content_hash"]
                p.vectors[r["content_hash"]] = r["embedding"]
    return plans


def texts_to_embed(plans: Sequence[Plan]) -> tuple[list[bytes], list[str]]:
    """Hashes and texts that no plan has a stored vector for, each once (batched across events and tenants)."""
    seen: dict[bytes, str] = {}
    for p in plans:
        for chunk in p.missing():
            seen.setdefault(chunk.hash, chunk.text)
    return list(seen), list(seen.values())


async def apply(conn: asyncpg.Connection, plans: Sequence[Plan], embedded: dict[bytes, np.ndarray]) -> int:
    """Write the plans (the transaction's tenant); returns the number of chunk rows written."""
    entities, chunks, touches, trims = [], [], [], []
    for p in plans:
        s = p.state
        key = (p.index_id, s.kind, s.source, s.external_id)
        if s.deleted:
            count = 0
        elif p.chunks is None:
            count = p.chunk_count
        else:
            count = len(p.chunks)
            for c in p.chunks:
                if p.stored.get(c.no) != c.hash:
                    vector = p.vectors.get(c.hash)
                    chunks.append(
                        (
                            *key,
                            c.no,
                            c.hash,
                            c.text,
                            vector if vector is not None else embedded[c.hash],
                            s.agents,
                            s.updated_at,
                        )
                    )
        kept = count if p.chunks is None else sum(p.stored.get(c.no) == c.hash for c in p.chunks)
        if kept:  # chunks that keep their text may still need the entity's new time or scope
            touches.append((*key, count, s.agents, s.updated_at))
        if s.deleted or count < p.chunk_count:
            trims.append((*key, count))
        entities.append((*key, s.title, s.url, s.agents, s.updated_at, *s.position, s.deleted, p.text_hash, count))
    if trims:
        await conn.executemany(TRIM_CHUNKS_SQL, trims)
    if touches:
        await conn.executemany(TOUCH_CHUNKS_SQL, touches)
    if chunks:
        await conn.executemany(UPSERT_CHUNK_SQL, chunks)
    if entities:
        await conn.executemany(UPSERT_ENTITY_SQL, entities)
    return len(chunks)

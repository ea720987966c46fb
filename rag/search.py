"""Search one tenant's chunks: HNSW (cosine) over the vectors, full text over `tsv`, fused by reciprocal rank.

Run inside a tenant transaction (db.pool.tenant_transaction): row-level security is the tenant filter of every
query. Filters (kind, source, agent scope, time) are applied inside the HNSW scan, and pgvector's iterative scan keeps
scanning until enough rows pass them, so a selective filter still gets a complete top-k. The keyword branch matches
every word of the query (ranked by ts_rank_cd), except when the query holds identifiers (terms with a digit: a SKU,
an order number): then it looks for any of those only, so "where is order 100421" finds the message that names
100421 even though it never says "order".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
import numpy as np

from rag.config import RagConfig
from rag.indexes import Index

Mode = Literal["hybrid", "vector", "keyword"]
HEADLINE = "MaxFragments=1, MaxWords=35, MinWords=12, StartSel=**, StopSel=**"  # query terms in **bold**
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al.): score = sum of 1 / (60 + rank)


@dataclass(frozen=True)
class Filters:
    kinds: Sequence[str] = ()
    source: str | None = None
    agent: str | None = None  # only what this agent may retrieve (documents scoped to it or to the whole tenant)
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Hit:
    kind: str
    source: str
    external_id: str
    chunk_no: int
    title: str
    url: str | None
    content: str
    snippet: str
    score: float
    updated_at: datetime
    vector_rank: int | None
    keyword_rank: int | None


def _where(filters: Filters, args: list) -> str:
    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    clauses = []
    if filters.kinds:
        clauses.append(f"kind = ANY({arg(list(filters.kinds))}::text[])")
    if filters.source is not None:
        clauses.append(f"source = {arg(filters.source)}")
    if filters.agent is not None:
        clauses.append(f"(cardinality(agents) = 0 OR {arg(filters.agent)} = ANY(agents))")
    if filters.since is not None:
        clauses.append(f"updated_at >= {arg(filters.since)}")
    if filters.until is not None:
        clauses.append(f"updated_at < {arg(filters.until)}")
    return "".join(" AND " + c for c in clauses)


def search_sql(
    index: Index, mode: Mode, filters: Filters, vector: np.ndarray | None, candidates: int, args: list
) -> str:
    """args holds [keyword query (prepare()'s tsquery text, or None), k] on entry; the vector, candidates and
    filter values are appended as used."""
    args.append(candidates)
    limit = f"${len(args)}"
    branches = []
    if mode in ("hybrid", "vector"):
        where = f"index_id = {int(index.id)}" + _where(filters, args)
        args.append(vector)
        distance = f"{index.vector_sql} <=> ${len(args)}::vector({int(index.dimension)})"
        branches.append(f"""
        v AS MATERIALIZED (SELECT kind, source, external_id, chunk_no, {distance} AS distance
                           FROM rag_chunks WHERE {where} ORDER BY {distance} LIMIT {limit}),
        vr AS (SELECT *, row_number() OVER (ORDER BY distance) AS vrank FROM v)""")
    else:
        branches.append(
            "vr AS (SELECT NULL::text AS kind, NULL::text AS source, NULL::text AS external_id, "
            "NULL::int AS chunk_no, NULL::float8 AS distance, NULL::int8 AS vrank WHERE false)"
        )
    if mode in ("hybrid", "keyword"):
        values = (list(filters.kinds) or None, filters.source, filters.agent, filters.since, filters.until)
        params = []
        for value in values:
            args.append(value)
            params.append(f"${len(args)}")
        branches.append(f"""
        kr AS (SELECT kind, source, external_id, chunk_no, rank AS krank_score,
                      row_number() OVER (ORDER BY rank DESC, kind, source, external_id, chunk_no) AS krank
               FROM rag_keyword_candidates({int(index.id)}, $1::tsquery, {limit}::integer, {params[0]}::text[],
                                           {params[1]}::text, {params[2]}::text, {params[3]}::timestamptz,
                                           {params[4]}::timestamptz))""")
    else:
        branches.append(
            "kr AS (SELECT NULL::text AS kind, NULL::text AS source, NULL::text AS external_id, "
            "NULL::int AS chunk_no, NULL::float4 AS krank_score, NULL::int8 AS krank WHERE false)"
        )
    score = {
        "hybrid": f"coalesce(1.0 / ({RRF_K} + vrank), 0) + coalesce(1.0 / ({RRF_K} + krank), 0)",
        "vector": "1 - distance",
        "keyword": "krank_score",
    }[mode]
    return f"""
    WITH {",".join(branches)},
    f AS (SELECT kind, source, external_id, chunk_no, vrank, krank, ({score})::float8 AS score
          FROM vr FULL OUTER JOIN kr USING (kind, source, external_id, chunk_no)
          ORDER BY score DESC, krank NULLS LAST, vrank NULLS LAST LIMIT $2)
    SELECT f.kind, f.source, f.external_id, f.chunk_no, e.title, e.url, c.content, c.updated_at, f.score,
           f.vrank AS vector_rank, f.krank AS keyword_rank,
           coalesce(ts_headline('english', c.content, $1::tsquery, '{HEADLINE}'), left(c.content, 240)) AS snippet
    FROM f
    JOIN rag_chunks c ON c.index_id = {int(index.id)} AND (c.kind, c.source, c.external_id, c.chunk_no)
                         = (f.kind, f.source, f.external_id, f.chunk_no)
    JOIN rag_entities e ON e.index_id = {int(index.id)} AND (e.kind, e.source, e.external_id)
                           = (f.kind, f.source, f.external_id)
    ORDER BY f.score DESC, f.krank NULLS LAST, f.vrank NULLS LAST
    """


# The keyword query: every word, or any identifier (module docstring). Built from lexemes with an aggregate over
# tsquery_or, never by parsing the user's text as tsquery syntax; NULL when the text has no lexemes.
PREPARE_SQL = """
WITH terms AS (SELECT l, l ~ '[0-9]' AS is_id FROM unnest(tsvector_to_array(to_tsvector('english', $1))) AS l),
q AS (SELECT coalesce(rag_tsquery_any(plainto_tsquery('simple', l)) FILTER (WHERE is_id),
                      plainto_tsquery('english', $1)) AS q FROM terms)
SELECT set_config('hnsw.ef_search', $2, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('hnsw.max_scan_tuples', $3, true), set_config('plan_cache_mode', 'force_custom_plan', true),
       CASE WHEN numnode(q.q) > 0 THEN q.q::text END AS keywords
FROM q
"""


async def prepare(conn: asyncpg.Connection, query: str, config: RagConfig) -> str | None:
    """Settings for this transaction (HNSW breadth; the iterative scan that keeps filtered results complete; plans
    made for each query's own keywords, so the planner sees how selective they are and uses the GIN index) and
    the keyword query as tsquery text."""
    row = await conn.fetchrow(PREPARE_SQL, query, str(config.rag_ef_search), str(config.rag_max_scan_tuples))
    return row["keywords"]


async def search(
    conn: asyncpg.Connection,
    index: Index,
    query: str,
    vector: np.ndarray | None,
    k: int,
    mode: Mode = "hybrid",
    filters: Filters = Filters(),
    config: RagConfig = RagConfig(),
) -> list[Hit]:
    """The top k chunks of the transaction's tenant. `vector` (the query's embedding) is needed unless keyword."""
    if mode != "keyword" and vector is None:
        raise ValueError(f"mode {mode} needs the query's embedding")
    args: list = [await prepare(conn, query, config), k]
    sql = search_sql(index, mode, filters, vector, max(config.rag_candidates, k), args)
    rows = await conn.fetch(sql, *args)
    return [Hit(**row) for row in rows]

"""Search (`GET /v1/search`): the active RAG index read through row-level security (rag.retrieval.Searcher), in
hybrid, vector or keyword mode, merged with the records found by their typed columns (contacts, companies, leads,
orders, products: rag/fields.py) in hybrid and keyword modes. The local model loads in a thread at start-up; until it
is ready, vector and hybrid queries answer 503 with a Retry-After and keyword queries work. Knowledge uploads are
gateway/routes_knowledge.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from events.ids import opaque_id
from gateway.problems import ProblemError
from gateway.routes_records import known_kinds
from gateway.routing import Routes, Timestamp, json_response, read_query
from gateway.state import CONFIG, POOL, tenant_of
from rag.fields import FIELD_KINDS, FieldHit
from rag.retrieval import Searcher, SearchUnavailable
from rag.search import Filters
from rag.texts import INDEXED_KINDS
from rag.warmup import ModelWarmup

routes = Routes("search")
SEARCHER = web.AppKey("searcher", Searcher)
WARMUP = web.AppKey("model_warmup", ModelWarmup)
LOADING_RETRY_AFTER_S = 5  # loading the local model takes seconds: ask again soon


async def searcher_ctx(app: web.Application) -> AsyncIterator[None]:
    """The process's searcher, after the pool is open. The local model starts loading now, in a thread: vector and
    hybrid queries answer 503 until it is ready (`/readyz` says `search`), keyword queries never wait for it."""
    app[SEARCHER] = searcher = Searcher(app[POOL], app[CONFIG])
    app[WARMUP] = warmup = ModelWarmup(app[CONFIG])
    warmup.start()
    yield
    await searcher.close()


class SearchQuery(msgspec.Struct):
    q: Annotated[str, Meta(min_length=1, max_length=1000)]
    k: Annotated[int, Meta(ge=1, le=100)] = 10
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    kind: str | None = None  # one kind, or several separated by commas (product,contact)
    source: str | None = None  # a connector instance id (`knowledge` for uploaded documents)
    agent: str | None = None  # only what this agent may retrieve (indexed text: no record found by its fields)
    since: datetime | None = None  # provider time of the entity
    until: datetime | None = None


class SearchHit(msgspec.Struct):
    record_id: str  # the entity: GET /v1/records/{kind}/{record_id}
    kind: str
    source: str
    external_id: str
    title: str
    url: str | None
    chunk: int  # which chunk of the entity's text (0 for a record found by its fields)
    text: str
    snippet: str  # the chunk's best fragment, query terms in **bold**
    # reciprocal-rank fusion in hybrid mode, cosine similarity in vector mode, ts_rank_cd in keyword; for a record
    # found by its fields, the trigram word similarity of the query to them (0..1)
    score: float
    updated_at: Timestamp
    # how it was found: `text` (a chunk of the indexed text) or `fields` (the record's typed columns: a contact's name
    # or email, an order's number, customer or products, a product's SKU ...; `text` holds those fields)
    matched: Literal["text", "fields"] = "text"


class SearchResults(msgspec.Struct):
    items: list[SearchHit]
    next: str | None = None  # search answers one page: the top k


@routes.route(
    "GET",
    "/v1/search",
    permission="records:read",
    summary="Search the tenant's text (hybrid, vector or keyword)",
    query=SearchQuery,
    response=SearchResults,
    errors=(503,),
)
async def get_search(request: web.Request) -> web.Response:
    return json_response(await search(request, read_query(request, SearchQuery)))


async def search(request: web.Request, query: SearchQuery) -> SearchResults:
    """The caller's tenant's top hits (GET /v1/search and the portal's search page): the indexed text's, and in hybrid
    and keyword modes the records found by their typed fields, merged by rank."""
    tenant = tenant_of(request)
    kinds = known_kinds([k for k in (query.kind or "").split(",") if k], INDEXED_KINDS | FIELD_KINDS, "bad-request")
    text_kinds = tuple(k for k in kinds if k in INDEXED_KINDS)
    field_kinds = tuple(k for k in kinds if k in FIELD_KINDS)
    warmup = request.app[WARMUP]
    if query.mode != "keyword" and warmup.state == "loading":
        raise ProblemError(
            "unavailable",
            "the search model is still loading; keyword search (mode=keyword) works",
            headers={"Retry-After": str(LOADING_RETRY_AFTER_S)},
        )
    if query.mode != "keyword" and warmup.state == "failed":
        raise ProblemError(
            "unavailable", f"the search model did not load ({warmup.error}); keyword search (mode=keyword) works"
        )
    searcher = request.app[SEARCHER]
    texts: list[SearchHit] = []
    if text_kinds or not kinds:
        filters = Filters(
            kinds=text_kinds, source=query.source, agent=query.agent, since=query.since, until=query.until
        )
        try:
            hits = await searcher.search(tenant, query.q, query.k, query.mode, filters)
        except SearchUnavailable as exc:
            raise ProblemError("unavailable", str(exc)) from None
        texts = [
            SearchHit(
                opaque_id("rec", tenant, h.kind, h.source, h.external_id),
                h.kind,
                h.source,
                h.external_id,
                h.title,
                h.url,
                h.chunk_no,
                h.content,
                h.snippet,
                h.score,
                h.updated_at,
            )
            for h in hits
        ]
    fields: list[SearchHit] = []
    if query.mode != "vector" and query.agent is None and (field_kinds or not kinds):
        filters = Filters(kinds=field_kinds, source=query.source, since=query.since, until=query.until)
        fields = [_field_hit(h) for h in await searcher.find_records(tenant, query.q, query.k, filters)]
    return SearchResults(items=merged(texts, fields, query.k))


def _field_hit(h: FieldHit) -> SearchHit:
    return SearchHit(
        h.id, h.kind, h.source, h.external_id, h.title, h.url, 0, h.text, h.snippet, h.score, h.updated_at, "fields"
    )


def merged(texts: list[SearchHit], fields: list[SearchHit], k: int) -> list[SearchHit]:
    """The two ranked lists interleaved by rank (their scores are not comparable; a field match first on a tie: it
    names the record exactly). A record found both ways is shown once, as its text hit at the better place."""
    field_rank: dict[str, int] = {}
    for rank, hit in enumerate(fields):
        field_rank.setdefault(hit.record_id, rank)
    placed: list[tuple[int, int, int, SearchHit]] = []
    for rank, hit in enumerate(texts):
        placed.append((min(rank, field_rank.pop(hit.record_id, rank)), 1, rank, hit))
    text_records = {hit.record_id for hit in texts}
    placed += [(rank, 0, rank, hit) for rank, hit in enumerate(fields) if hit.record_id not in text_records]
    placed.sort(key=lambda p: p[:3])
    return [hit for *_, hit in placed[:k]]

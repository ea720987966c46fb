"""Search (`GET /v1/search`): the active RAG index read through row-level security (rag.retrieval.Searcher), in
hybrid, vector or keyword mode. The local model loads in a thread at start-up; until it is ready, vector and hybrid
queries answer 503 with a Retry-After and keyword queries work. Knowledge uploads are gateway/routes_knowledge.py.
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
    kind: str | None = None  # one kind, or several separated by commas (product,post)
    source: str | None = None  # a connector instance id (`knowledge` for uploaded documents)
    agent: str | None = None  # only what this agent may retrieve
    since: datetime | None = None  # provider time of the entity
    until: datetime | None = None


class SearchHit(msgspec.Struct):
    record_id: str  # the entity: GET /v1/records/{kind}/{record_id}
    kind: str
    source: str
    external_id: str
    title: str
    url: str | None
    chunk: int  # which chunk of the entity's text
    text: str
    snippet: str  # the chunk's best fragment, query terms in **bold**
    score: float  # reciprocal-rank fusion in hybrid mode, cosine similarity in vector mode, ts_rank_cd in keyword
    updated_at: Timestamp


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
    """The caller's tenant's top hits (GET /v1/search and the portal's search page)."""
    tenant = tenant_of(request)
    kinds = known_kinds([k for k in (query.kind or "").split(",") if k], INDEXED_KINDS, "bad-request")
    filters = Filters(kinds=kinds, source=query.source, agent=query.agent, since=query.since, until=query.until)
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
    try:
        hits = await request.app[SEARCHER].search(tenant, query.q, query.k, query.mode, filters)
    except SearchUnavailable as exc:
        raise ProblemError("unavailable", str(exc)) from None
    items = [
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
    return SearchResults(items=items)

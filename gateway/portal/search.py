"""Search: one box over the tenant's indexed text (GET /v1/search's function), each hit with its snippet and a link
to its record's page. The snippet's **bold** query terms become <mark> after escaping, never raw HTML."""

from __future__ import annotations

import msgspec
from aiohttp import web
from markupsafe import Markup, escape

from gateway.portal.web import page, render
from gateway.problems import ProblemError
from gateway.routes_search import SearchQuery, search

routes = web.RouteTableDef()
MODES = ("hybrid", "keyword", "vector")


def marked(snippet: str) -> Markup:
    """`a **b** c` as `a <mark>b</mark> c`, everything escaped."""
    parts = snippet.split("**")
    return Markup("").join(Markup("<mark>%s</mark>") % p if n % 2 else escape(p) for n, p in enumerate(parts))


@routes.get("/portal/search")
@page("records:read")
async def search_page(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    mode = request.query.get("mode", "hybrid")
    results = None
    if q:
        try:
            query = msgspec.convert({"q": q, "mode": mode, "k": 20}, SearchQuery)
        except msgspec.ValidationError as exc:
            raise ProblemError("validation", str(exc)) from None
        results = (await search(request, query)).items
    return render(request, "search.html", q=q, mode=mode, modes=MODES, results=results, marked=marked)

"""Knowledge documents: the list (GET /v1/knowledge's function), an upload from a file (POST /v1/knowledge's: the
same conversion, size limit, quota and problems) and delete (DELETE /v1/knowledge/{id}'s). Uploading and deleting
need `commands:write`, as the JSON routes. The file is read part by part under the API's size cap and body timeout."""

from __future__ import annotations

import asyncio
from pathlib import PurePath
from urllib.parse import urlencode

import aiohttp
import msgspec
from aiohttp import web

from gateway.pagination import MAX_LIMIT
from gateway.portal.web import UPLOAD, page, redirect, render
from gateway.problems import ProblemError
from gateway.routes_knowledge import KnowledgeQuery, KnowledgeUpload, add_document, knowledge_page, remove_document
from gateway.state import CONFIG
from rag.documents import MEDIA_TYPES

routes = web.RouteTableDef()
# what a browser may send for a file whose type it does not know: the name's suffix says it
SUFFIX_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}


@routes.get("/portal/knowledge")
@page("records:read")
async def knowledge(request: web.Request) -> web.Response:
    found = await knowledge_page(request, KnowledgeQuery(limit=MAX_LIMIT, cursor=request.query.get("cursor") or None))
    done = request.query.get("done", "")
    return render(
        request,
        "knowledge.html",
        documents=found,
        done=done,
        title=request.query.get("title", ""),
        max_mb=request.app[CONFIG].rag_knowledge_max_bytes / 1024 / 1024,
        accept=",".join((*MEDIA_TYPES, *SUFFIX_TYPES)),
    )


async def _file(part: aiohttp.BodyPartReader, cap: int) -> bytes:
    body = bytearray()
    while chunk := await part.read_chunk():
        body += chunk
        if len(body) > cap:
            raise ProblemError("payload-too-large", f"bodies are limited to {cap} bytes")
    return bytes(body)


def _media_type(part: aiohttp.BodyPartReader) -> str:
    declared = (part.headers.get(aiohttp.hdrs.CONTENT_TYPE) or "").split(";")[0].strip().lower()
    if declared in MEDIA_TYPES:
        return declared
    return SUFFIX_TYPES.get(PurePath(part.filename or "").suffix.lower(), declared)


@routes.post("/portal/knowledge")
@page("commands:write")
async def upload(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    fields: dict[str, str] = {}
    content, media_type = None, ""
    try:
        async with asyncio.timeout(config.body_timeout_s):  # as the API's body reader: a stalled upload ends
            while (part := await request[UPLOAD].next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "file" and part.filename:
                    media_type, content = _media_type(part), await _file(part, config.rag_knowledge_max_bytes)
                elif part.name in ("title", "agents"):
                    fields[part.name] = (await _file(part, 2000)).decode(errors="replace").strip()
    except TimeoutError:
        raise ProblemError("request-timeout", f"the body did not arrive within {config.body_timeout_s:g} s") from None
    if content is None:
        raise ProblemError("validation", "file: choose a file to upload", errors=["file"])
    try:
        body = msgspec.convert(fields, KnowledgeUpload)
    except msgspec.ValidationError as exc:
        raise ProblemError("validation", str(exc)) from None
    view = await add_document(request, body, media_type, content)
    return redirect(f"/portal/knowledge?{urlencode({'done': 'uploaded', 'title': view.title})}")


@routes.post("/portal/knowledge/{document_id}/delete")
@page("commands:write")
async def delete(request: web.Request) -> web.Response:
    view = await remove_document(request)
    return redirect(f"/portal/knowledge?{urlencode({'done': 'deleted', 'title': view.title})}")

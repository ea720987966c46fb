"""Knowledge documents (`POST`/`GET`/`DELETE /v1/knowledge`), listed with search in the API (tag `search`).

An upload becomes a `knowledge.document.upserted.v1` event: the projector keeps it in `records` (kind `document`)
and the indexer embeds it, so reads and search see it a moment after the `202`. HTML and PDF uploads are converted
in the gateway's conversion processes (rag/convert.py): never on the event loop, and killed past
BIZOSAAS_RAG_PARSE_TIMEOUT_S. Lists answer metadata only (the SQL does not select the content); one document's
route answers its content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from db.pool import tenant_transaction
from events.ids import new_id, opaque_id
from events.knowledge import KNOWLEDGE_SOURCE, KnowledgeDocument
from events.types import DocumentDeleted, DocumentUpserted, Subject
from gateway.body import read_body
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from gateway.problems import ProblemError
from gateway.routing import Routes, Timestamp, json_response, read_query
from gateway.state import CONFIG, POOL, PUBLISHER, tenant_of
from gateway.tenancy import check_knowledge_quota
from rag.convert import Converter
from rag.documents import MEDIA_TYPES, TooLarge, UnreadableDocument, to_text

routes = Routes("search")  # the API's tag: knowledge is what search finds
CONVERTER = web.AppKey("converter", Converter)
PARSED_MEDIA_TYPES = ("text/html", "application/pdf")  # CPU-heavy on untrusted input: in a conversion process


async def converter_ctx(app: web.Application) -> AsyncIterator[None]:
    """The processes that convert HTML and PDF uploads (started on the first such upload)."""
    rag = app[CONFIG]
    app[CONVERTER] = converter = Converter(rag.rag_parse_timeout_s, rag.rag_parse_workers)
    yield
    await converter.close()


class KnowledgeUpload(msgspec.Struct):
    title: Annotated[str, Meta(max_length=300)] = ""
    agents: Annotated[str, Meta(max_length=2000)] = ""  # comma-separated agent names; empty: the whole tenant
    id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")] | None = None  # replace this document


class KnowledgeSummary(msgspec.Struct):
    """A document's metadata: what lists, uploads and deletes answer (never the content)."""

    id: str
    record_id: str
    title: str
    media_type: str
    agents: list[str]
    size_bytes: int  # of the upload
    updated_at: Timestamp
    deleted: bool = False
    chunks: int | None = None  # in the active search index; null: not indexed (yet)
    event_id: str | None = None  # the event an upload or a delete published


class KnowledgeView(KnowledgeSummary):
    content: str = ""  # the document as plain text


class KnowledgeList(msgspec.Struct):
    items: list[KnowledgeSummary]
    next: str | None


class KnowledgeQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: str | None = None


def _event_fields(tenant: str, document_id: str) -> dict:
    now = datetime.now(UTC)
    return dict(
        id=new_id(),
        tenant_id=tenant,
        source=KNOWLEDGE_SOURCE,
        provider="knowledge",
        subject=Subject(kind="document", external_id=document_id),
        occurred_at=now,
        recorded_at=now,
    )


@routes.route(
    "POST",
    "/v1/knowledge",
    permission="commands:write",
    summary="Upload a knowledge document (plain text, Markdown, HTML or PDF)",
    query=KnowledgeUpload,
    response=KnowledgeSummary,
    status=202,
    request_content_types=MEDIA_TYPES,
    errors=(413, 415),
)
async def post_knowledge(request: web.Request) -> web.Response:
    upload = read_query(request, KnowledgeUpload)
    check_media_type(request.content_type)
    rag = request.app[CONFIG]
    # whole (a single read() returns only what is buffered), under the cap, within the body timeout, gzip decoded
    body = await read_body(request, rag.rag_knowledge_max_bytes, request.app[CONFIG].body_timeout_s)
    view = await add_document(request, upload, request.content_type, body)
    return json_response(view, status=202, headers={"Location": f"/v1/knowledge/{view.id}"})


def check_media_type(media_type: str) -> None:
    if media_type not in MEDIA_TYPES:
        raise ProblemError("unsupported-media-type", f"send one of: {', '.join(MEDIA_TYPES)}")


async def add_document(request: web.Request, upload: KnowledgeUpload, media_type: str, body: bytes) -> KnowledgeSummary:
    """Convert an upload read under the size cap, check it and the tenant's quota, and publish it (POST
    /v1/knowledge and the portal's knowledge page)."""
    check_media_type(media_type)
    rag = request.app[CONFIG]
    try:
        if media_type in PARSED_MEDIA_TYPES:
            text = await request.app[CONVERTER].run(to_text, body, media_type, rag.rag_max_pages)
        else:
            text = to_text(body, media_type)
    except TooLarge as exc:
        raise ProblemError("payload-too-large", str(exc)) from None
    except UnreadableDocument as exc:  # also a conversion stopped at its deadline
        raise ProblemError("validation", str(exc)) from None
    if len(text) > rag.rag_max_text_chars:
        raise ProblemError(
            "payload-too-large",
            f"the document's text has {len(text)} characters; at most "
            f"{rag.rag_max_text_chars} are kept (BIZOSAAS_RAG_MAX_TEXT_CHARS)",
        )
    if not text.strip():
        raise ProblemError("validation", "the document has no text")
    tenant = tenant_of(request)
    document_id = upload.id or "doc_" + new_id().lower()
    title = upload.title or text.strip().splitlines()[0][:120]
    agents = sorted({a.strip() for a in upload.agents.split(",") if a.strip()})
    await check_knowledge_quota(
        request.app[POOL], tenant, document_id, len(body), request.app[CONFIG].tenant_max_knowledge_bytes
    )
    data = KnowledgeDocument(title=title, content=text, media_type=media_type, agents=agents, size_bytes=len(body))
    event = DocumentUpserted(**_event_fields(tenant, document_id), data=data)
    await request.app[PUBLISHER].publish([event])
    return KnowledgeSummary(
        document_id,
        opaque_id("rec", tenant, "document", KNOWLEDGE_SOURCE, document_id),
        title,
        media_type,
        agents,
        len(body),
        event.occurred_at,
        event_id=event.id,
    )


# metadata only: a list never reads a document's content out of the database
_SUMMARY = """
SELECT r.external_id, r.id AS record_id, coalesce(r.data->>'title', '') AS title,
       coalesce(r.data->>'media_type', 'text/plain') AS media_type, coalesce(r.data->'agents', '[]')::text AS agents,
       coalesce((r.data->>'size_bytes')::bigint, 0) AS size_bytes, r.updated_at, r.deleted, e.chunks"""
_CONTENT = ", coalesce(r.data->>'content', '') AS content"
_FROM = """
FROM records r
LEFT JOIN rag_entities e ON e.index_id = (SELECT id FROM rag_indexes WHERE state = 'active')
     AND (e.kind, e.source, e.external_id) = (r.kind, r.source, r.external_id) AND NOT e.deleted
WHERE r.kind = 'document' AND r.source = $1
"""


def _summary(row) -> KnowledgeSummary:
    return KnowledgeSummary(
        row["external_id"],
        row["record_id"],
        row["title"],
        row["media_type"],
        msgspec.json.decode(row["agents"], type=list[str]),
        row["size_bytes"],
        row["updated_at"],
        row["deleted"],
        row["chunks"],
    )


@routes.route(
    "GET",
    "/v1/knowledge",
    permission="records:read",
    summary="List knowledge documents, newest first",
    query=KnowledgeQuery,
    response=KnowledgeList,
)
async def list_knowledge(request: web.Request) -> web.Response:
    return json_response(await knowledge_page(request, read_query(request, KnowledgeQuery)))


async def knowledge_page(request: web.Request, query: KnowledgeQuery) -> KnowledgeList:
    """A page of the tenant's documents, newest first (GET /v1/knowledge and the portal's knowledge page)."""
    after = decode_cursor(query.cursor, "knowledge")
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch(
            _SUMMARY + _FROM + " AND NOT r.deleted AND ($2::timestamptz IS NULL OR (r.updated_at, r.id) "
            "< ($2, $3::text)) ORDER BY r.updated_at DESC, r.id DESC LIMIT $4",
            KNOWLEDGE_SOURCE,
            *(after or (None, "")),
            query.limit + 1,
        )
    rows = [{**r, "id": r["record_id"]} for r in rows]
    items, cursor = page(rows, query.limit, "knowledge", sort_field="updated_at")
    return KnowledgeList(items=[_summary(r) for r in items], next=cursor)


async def _document_row(request: web.Request, with_content: bool = False):
    columns = _SUMMARY + (_CONTENT if with_content else "")
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            columns + _FROM + " AND r.external_id = $2 AND NOT r.deleted",
            KNOWLEDGE_SOURCE,
            request.match_info["document_id"],
        )
    if row is None:
        raise ProblemError("not-found", "no such knowledge document")
    return row


@routes.route(
    "GET",
    "/v1/knowledge/{document_id}",
    permission="records:read",
    summary="A knowledge document, with its content",
    response=KnowledgeView,
    errors=(404,),
)
async def get_knowledge(request: web.Request) -> web.Response:
    row = await _document_row(request, with_content=True)
    summary = _summary(row)
    return json_response(KnowledgeView(**msgspec.structs.asdict(summary), content=row["content"]))


@routes.route(
    "DELETE",
    "/v1/knowledge/{document_id}",
    permission="commands:write",
    summary="Delete a knowledge document (and its chunks)",
    response=KnowledgeSummary,
    status=202,
    errors=(404,),
)
async def delete_knowledge(request: web.Request) -> web.Response:
    return json_response(await remove_document(request), status=202)


async def remove_document(request: web.Request) -> KnowledgeSummary:
    """Publish the deletion of the document the path names (DELETE /v1/knowledge/{document_id} and the portal)."""
    view = _summary(await _document_row(request))
    event = DocumentDeleted(**_event_fields(tenant_of(request), view.id))
    await request.app[PUBLISHER].publish([event])
    return msgspec.structs.replace(view, deleted=True, event_id=event.id, updated_at=event.occurred_at)

"""The personal agent's chat: the tenant's conversations (GET /v1/agent/conversations' function), one conversation
with each answer's citations linked to their records and documents, and a question form. Posted plainly the page
waits for the whole answer (the same turn as POST /v1/agent/chat) and shows the conversation; portal.js posts the
same form to /portal/chat/stream instead and shows the answer as it streams, then the server's rendering of the
conversation with its citations."""

from __future__ import annotations

import json

import aiohttp_jinja2
import msgspec
import openai
from aiohttp import web

from agents.config import NO_MODEL
from gateway.portal.agents import citation_label, citation_link
from gateway.portal.live import sse_event
from gateway.portal.web import FORM, SECURITY_HEADERS, page, redirect, render
from gateway.problems import ProblemError
from gateway.routes_chat import (
    PERSONAL_AGENT,
    ChatRequest,
    ConversationDetail,
    ListQuery,
    chat_turn,
    conversation_detail,
    conversation_page,
    model_failure,
    personal_agent_enabled,
)

routes = web.RouteTableDef()
LIST_SIZE = 50
LINKS = {"citation_link": citation_link, "citation_label": citation_label}


def _question(request: web.Request) -> ChatRequest:
    form = request[FORM]
    fields = {"message": str(form.get("message", "")).strip(), "conversation_id": form.get("conversation_id") or None}
    try:
        return msgspec.convert(fields, ChatRequest)
    except msgspec.ValidationError:
        raise ProblemError("validation", "message: give 1 to 8000 characters", errors=["message"]) from None


async def _page(request: web.Request, conversation_id: str | None, error: str = "", status: int = 200):
    shown: ConversationDetail | None = None
    if conversation_id:
        shown = await conversation_detail(request, conversation_id)
    listed = await conversation_page(request, ListQuery(limit=LIST_SIZE, cursor=request.query.get("cursor") or None))
    return render(
        request,
        "chat.html",
        status=status,
        conversations=listed,
        conversation=shown,
        no_model=NO_MODEL if request.app.get(PERSONAL_AGENT) is None else "",
        agent_off=not await personal_agent_enabled(request),
        error=error,
        **LINKS,
    )


@routes.get("/portal/chat")
@page("records:read")
async def chat(request: web.Request) -> web.Response:
    return await _page(request, request.query.get("conversation") or None)


@routes.post("/portal/chat")
@page("records:read")
async def ask(request: web.Request) -> web.Response:
    """Without JavaScript: wait for the whole turn, then show the conversation (a redirect, so a reload asks
    nothing twice)."""
    conversation_id = None
    try:
        async for event in await chat_turn(request, _question(request)):
            conversation_id = getattr(event, "conversation_id", conversation_id)
    except openai.APIError as exc:  # the question is stored; the page says what failed
        return await _page(request, conversation_id, error=model_failure(exc), status=502)
    return redirect(f"/portal/chat?conversation={conversation_id}")


@routes.post("/portal/chat/stream")
@page("records:read")
async def ask_streaming(request: web.Request) -> web.StreamResponse:
    """portal.js's form post: the turn as server-sent events (`conversation`, `delta` with the text as a JSON string,
    `tool`, `error`), then `html`, the conversation as the page renders it (citations linked)."""
    turn = await chat_turn(request, _question(request))  # no model, unknown conversation: an error page, no stream
    response = web.StreamResponse(headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    conversation_id = None
    try:
        async for event in turn:
            tag = type(event).__struct_config__.tag
            if tag == "conversation":
                conversation_id = event.conversation_id
                await response.write(sse_event(tag, json.dumps(conversation_id)))
            elif tag == "delta":
                await response.write(sse_event(tag, json.dumps(event.text)))
            elif tag == "tool":
                await response.write(sse_event(tag, json.dumps(event.name)))
    except openai.APIError as exc:
        await response.write(sse_event("error", json.dumps(model_failure(exc))))
    if conversation_id:
        shown = await conversation_detail(request, conversation_id)
        context = {"conversation": shown, **LINKS}
        await response.write(sse_event("html", aiohttp_jinja2.render_string("_conversation.html", request, context)))
    await response.write_eof()
    return response

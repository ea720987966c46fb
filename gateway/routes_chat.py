"""The personal agent over HTTP: `POST /v1/agent/chat` streams one turn as server-sent events, and the tenant's
conversations can be read back. The model is called from this request's handler (a person waits for it, as in any
chat), never from a stream handler; delegation to a specialist becomes an `agent.run.v1` command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import openai
from aiohttp import web
from msgspec import Meta

from agents.budget import seconds_to_next_day
from agents.chat_tools import ToolContext
from agents.config import NO_MODEL, llm_configured
from agents.personal import ConversationNotFound, OverBudget, PersonalAgent
from db.pool import tenant_transaction
from events.commands import RunAgent
from gateway.commands import new_command_fields, record_command, send_command
from gateway.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page
from gateway.portal.profiles import load_profile, personal_agent_on
from gateway.problems import ProblemError
from gateway.roles import allows
from gateway.routes_search import SEARCHER
from gateway.routing import Cursor, Routes, Timestamp, json_response, read_json, read_query
from gateway.state import CONFIG, POOL, PUBLISHER, principal, tenant_of

routes = Routes("agent")
PERSONAL_AGENT = web.AppKey("personal_agent", PersonalAgent)


class ChatRequest(msgspec.Struct, forbid_unknown_fields=True):
    message: Annotated[str, Meta(min_length=1, max_length=8000)]
    conversation_id: Annotated[str, Meta(max_length=100)] | None = None


class Conversation(msgspec.Struct):
    id: str
    title: str
    principal: str
    created_at: Timestamp
    updated_at: Timestamp


class Message(msgspec.Struct):
    seq: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    tokens_in: int
    tokens_out: int
    created_at: Timestamp


class ConversationDetail(Conversation, kw_only=True):
    messages: list[Message]


class ConversationList(msgspec.Struct):
    items: list[Conversation]
    next: str | None


class ListQuery(msgspec.Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Cursor | None = None


async def personal_agent_ctx(app: web.Application) -> AsyncIterator[None]:
    """The model client, when one is configured (otherwise chat answers 503 naming the settings)."""
    config = app[CONFIG]
    if not llm_configured(config):
        yield
        return
    client = openai.AsyncOpenAI(
        api_key=config.openai_api_key or "unused",  # a local OpenAI-compatible server may need no key
        base_url=config.openai_base_url or None,
        timeout=config.agent_run_timeout_s,
        max_retries=1,
    )
    app[PERSONAL_AGENT] = PersonalAgent(client, config.agent_model, config)
    yield
    await client.close()


PERSONAL_AGENT_OFF = (
    "the tenant turned its personal agent off; a tenant admin turns it on in the portal: "
    "/portal/onboarding?step=agent, 'Activate my personal agent'"
)


async def personal_agent_enabled(request: web.Request) -> bool:
    """The tenant's onboarding setting (step 5), read on every turn so a change applies at once."""
    return personal_agent_on(await load_profile(request.app[POOL], tenant_of(request)))


def _delegate(request: web.Request):
    async def delegate(tenant_id: str, agent: str, instruction: str, by: str) -> str:
        command = RunAgent(agent=agent, prompt=instruction, **new_command_fields(tenant_id, by))
        async with tenant_transaction(request.app[POOL], tenant_id) as conn:
            await record_command(conn, command)
        await send_command(request.app[POOL], request.app[PUBLISHER], command)
        return command.id

    return delegate


def _sse(event: Any) -> bytes:
    tag = type(event).__struct_config__.tag
    return f"event: {tag}\ndata: {msgspec.json.encode(event).decode()}\n\n".encode()


@routes.route(
    "POST",
    "/v1/agent/chat",
    permission="records:read",
    summary="Ask the tenant's personal agent; the answer streams as server-sent events (conversation, delta, tool, "
    "done, error); 409 personal-agent-off when the tenant turned its personal agent off in onboarding's step 5; "
    "429 token-budget once the tenant's daily token budget is spent",
    body=ChatRequest,
    response_content_type="text/event-stream",
    errors=(404, 409, 503),
)
async def post_chat(request: web.Request) -> web.StreamResponse:
    turn = await chat_turn(request, await read_json(request, ChatRequest))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        async for event in turn:
            await response.write(_sse(event))
    except openai.APIError as exc:  # the model failed mid-turn: the question stays stored, the person is told
        error = {"message": model_failure(exc)}
        await response.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
    await response.write_eof()
    return response


def model_failure(exc: openai.APIError) -> str:
    return f"the language model failed: {type(exc).__name__}: {exc.message}"


async def chat_turn(request: web.Request, body: ChatRequest) -> AsyncIterator[Any]:
    """One turn of the personal agent as its events (Started, Delta, ToolUsed, Done), for the JSON route and the
    portal's chat page. 503 without a model, 409 when the tenant turned its personal agent off and 404 for an unknown
    conversation are raised here, before any event; openai.APIError may come from the iteration."""
    agent = request.app.get(PERSONAL_AGENT)
    if agent is None:
        raise ProblemError("unavailable", NO_MODEL)
    if not await personal_agent_enabled(request):
        raise ProblemError("personal-agent-off", PERSONAL_AGENT_OFF)
    caller = principal(request)
    ctx = ToolContext(
        request.app[POOL],
        tenant_of(request),
        caller.subject,
        request.app.get(SEARCHER),
        _delegate(request) if allows(caller, "commands:write") else None,
    )
    turn = agent.turn(ctx, body.message, body.conversation_id)
    try:
        first = await anext(turn)  # an unknown conversation is answered 404 before the stream starts
    except ConversationNotFound:
        raise ProblemError("not-found", "no such conversation") from None
    except OverBudget as exc:  # nothing stored, no model called; the budget starts again at UTC midnight
        retry = {"Retry-After": str(seconds_to_next_day())}
        raise ProblemError("token-budget", str(exc), headers=retry) from None
    return _prepend(first, turn)


async def _prepend(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for event in rest:
        yield event


@routes.route(
    "GET",
    "/v1/agent/conversations",
    permission="records:read",
    summary="The tenant's conversations with its personal agent, most recent first",
    query=ListQuery,
    response=ConversationList,
)
async def list_conversations(request: web.Request) -> web.Response:
    return json_response(await conversation_page(request, read_query(request, ListQuery)))


async def conversation_page(request: web.Request, query: ListQuery) -> ConversationList:
    after = decode_cursor(query.cursor, "conversations")
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        rows = await conn.fetch(
            """SELECT id, title, principal, created_at, updated_at FROM agent_conversations
               WHERE $1::timestamptz IS NULL OR (updated_at, id) < ($1, $2)
               ORDER BY updated_at DESC, id DESC LIMIT $3""",
            *(after or (None, None)),
            query.limit + 1,
        )
    items, next_cursor = page(rows, query.limit, "conversations", "updated_at")
    return ConversationList([Conversation(**r) for r in items], next_cursor)


@routes.route(
    "GET",
    "/v1/agent/conversations/{conversation_id}",
    permission="records:read",
    summary="One conversation with its messages, each answer with its citations and tool calls",
    response=ConversationDetail,
    errors=(404,),
)
async def get_conversation(request: web.Request) -> web.Response:
    return json_response(await conversation_detail(request, request.match_info["conversation_id"]))


async def conversation_detail(request: web.Request, conversation_id: str) -> ConversationDetail:
    async with tenant_transaction(request.app[POOL], tenant_of(request)) as conn:
        row = await conn.fetchrow(
            "SELECT id, title, principal, created_at, updated_at FROM agent_conversations WHERE id = $1",
            conversation_id,
        )
        if row is None:
            raise ProblemError("not-found", "no such conversation")
        messages = await conn.fetch(
            """SELECT seq, role, content, citations::text, tool_calls::text, tokens_in, tokens_out, created_at
               FROM agent_messages WHERE conversation_id = $1 ORDER BY seq""",
            conversation_id,
        )
    out = [
        Message(**{**m, "citations": json.loads(m["citations"]), "tool_calls": json.loads(m["tool_calls"])})
        for m in messages
    ]
    return ConversationDetail(**row, messages=out)

"""The personal agent's tools: OpenAI function definitions and the code that answers each call for one tenant.

Every tool reads under row-level security (agents/reads.py, agents/aggregates.py, rag.retrieval) and returns what
it read plus the citations the answer must list. A model's arguments are untrusted: each is checked here and a bad
one comes back to the model as an error message it can correct, never as an exception in the chat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from agents.aggregates import AGGREGATES, UnknownAggregate, query_aggregate
from agents.catalog import catalog
from agents.reads import MAX_RECORDS, find_records, get_record
from db.pool import tenant_transaction
from events.types import UPSERTED_BY_KIND
from rag.retrieval import Searcher, SearchUnavailable, retrieve

# (tenant_id, agent, instruction, principal) -> the id of the command that asks for the run
Delegate = Callable[[str, str, str, str], Awaitable[str]]


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


TOOLS: list[dict[str, Any]] = [
    _function(
        "find_records",
        "List the business's records of one kind, newest first; `text` matches a title (order number, name, email).",
        {
            "kind": {"type": "string", "enum": sorted(UPSERTED_BY_KIND)},
            "text": {"type": "string"},
            "status": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RECORDS},
        },
        ["kind"],
    ),
    _function("get_record", "One record, whole, by the id another tool gave.", {"id": {"type": "string"}}, ["id"]),
    _function(
        "aggregate",
        "Figures computed by the platform: " + "; ".join(f"{n}: {a.description}" for n, a in AGGREGATES.items()),
        {
            "name": {"type": "string", "enum": list(AGGREGATES)},
            "since": {"type": "string", "format": "date"},
            "until": {"type": "string", "format": "date"},
            "currency": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        },
        ["name"],
    ),
    _function(
        "search",
        "Search the business's documents and records by meaning and words; answers numbered passages to cite.",
        {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 10}},
        ["query"],
    ),
    _function(
        "delegate",
        "Ask one of the business's enabled specialist agents to do a piece of work; it runs in the background and "
        "its result appears under agent runs.",
        {"agent": {"type": "string"}, "instruction": {"type": "string"}},
        ["agent", "instruction"],
    ),
]


class ToolRefused(ValueError):
    """A call the model can correct (unknown name, bad argument); its message goes back to the model."""


@dataclass(frozen=True)
class ToolContext:
    pool: asyncpg.Pool
    tenant_id: str
    principal: str
    searcher: Searcher | None = None  # None: search is not available in this process
    delegate: Delegate | None = None


def _record_citation(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "id": record["id"], "kind": record["kind"], "title": record["title"] or ""}


def _date(args: dict[str, Any], name: str) -> date | None:
    try:
        return date.fromisoformat(args[name]) if args.get(name) else None
    except (TypeError, ValueError):
        raise ToolRefused(f"{name} must be a date like 2026-01-31") from None


async def enabled_agents(pool: asyncpg.Pool, tenant_id: str) -> list[str]:
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch("SELECT agent_id FROM agent_settings WHERE enabled ORDER BY agent_id")
    known = catalog()
    return [r["agent_id"] for r in rows if r["agent_id"] in known]


async def call_tool(ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """(result for the model, citations) of one tool call; ToolRefused for a call the model should correct."""
    match name:
        case "find_records":
            if args.get("kind") not in UPSERTED_BY_KIND:
                raise ToolRefused(f"kind must be one of {sorted(UPSERTED_BY_KIND)}")
            found = await find_records(
                ctx.pool,
                ctx.tenant_id,
                args["kind"],
                text=args.get("text") or None,
                status=args.get("status") or None,
                limit=int(args.get("limit") or 10),
            )
            return found, [_record_citation(r) for r in found]
        case "get_record":
            record = await get_record(ctx.pool, ctx.tenant_id, str(args.get("id", "")))
            if record is None:
                raise ToolRefused(f"no record {args.get('id')!r}: use an id another tool answered")
            return record, [_record_citation(record)]
        case "aggregate":
            try:
                rows = await query_aggregate(
                    ctx.pool,
                    ctx.tenant_id,
                    str(args.get("name", "")),
                    since=_date(args, "since"),
                    until=_date(args, "until"),
                    currency=args.get("currency") or None,
                    limit=int(args.get("limit") or 50),
                )
            except UnknownAggregate as exc:
                raise ToolRefused(str(exc)) from None
            return rows, [{"type": "aggregate", "name": args["name"]}]
        case "search":
            if ctx.searcher is None:
                raise ToolRefused("search is not available right now; use find_records or aggregate")
            query, k = str(args.get("query", "")), int(args.get("limit") or 5)
            try:
                hits = await retrieve(ctx.searcher, ctx.tenant_id, query, k=k)
            except SearchUnavailable as exc:  # the model is still loading, or the index is being rebuilt
                raise ToolRefused(f"search is not available right now ({exc}); use find_records or aggregate") from None
            passages = [{"n": c.n, "title": c.title, "kind": c.kind, "text": c.text, "id": c.record_id} for c in hits]
            citations = [{"type": "record", "id": c.record_id, "kind": c.kind, "title": c.title} for c in hits]
            return passages, citations
        case "delegate":
            agent, instruction = str(args.get("agent", "")), str(args.get("instruction", ""))
            enabled = await enabled_agents(ctx.pool, ctx.tenant_id)
            if agent not in enabled:
                raise ToolRefused(f"{agent!r} is not an enabled specialist; enabled: {', '.join(enabled) or 'none'}")
            if ctx.delegate is None:
                raise ToolRefused("delegation is not available in this process")
            command_id = await ctx.delegate(ctx.tenant_id, agent, instruction, ctx.principal)
            return {"asked": agent, "command": command_id}, [{"type": "agent_run_request", "command": command_id}]
    raise ToolRefused(f"no tool {name!r}; tools: {', '.join(t['function']['name'] for t in TOOLS)}")

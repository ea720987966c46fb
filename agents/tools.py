"""The tools an agent may call (agents.catalog.TOOL_NAMES), as CrewAI tools bound to ONE tenant: every read goes
through `tenant_transaction`, so row-level security decides what exists, and the model can name neither a tenant
nor SQL. CrewAI calls a tool's `_run` from the thread that runs the crew; the read itself runs on the activity's
event loop (where the pool lives) and the thread waits for it. Every call lands in the run's Trace."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from agents.aggregates import AGGREGATES, query_aggregate
from agents.catalog import AgentSpec
from db.pool import tenant_transaction
from rag.retrieval import Searcher, as_context, retrieve

TOOL_OUTPUT_CHARS = 8_000  # what one tool answer may put in front of the model (and in the trace)
RECORD_COLUMNS = "id, kind, source, external_id, status, title, amount_minor, currency, updated_at, data"


@dataclass
class Trace:
    """What a run did: its tool calls (input, output, time) and the citations its answer may use."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    citations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by record id: each cited once

    def cite(self, record_id: str, kind: str, source: str, external_id: str, title: str | None) -> None:
        self.citations.setdefault(
            record_id, {"record_id": record_id, "kind": kind, "source": source, "external_id": external_id,
                        "title": title or ""}
        )  # fmt: skip


@dataclass(frozen=True)
class ToolContext:
    """What the tools of one run share: the tenant, the agent, the pool and the loop they read on."""

    tenant_id: str
    spec: AgentSpec
    pool: asyncpg.Pool
    loop: asyncio.AbstractEventLoop
    searcher: Searcher | None
    trace: Trace
    timeout_s: float = 60.0

    def call(self, name: str, arguments: dict[str, Any], read) -> str:
        """Run `read()` (a coroutine function) on the activity's loop from CrewAI's thread; record the step."""
        started = time.monotonic()
        try:
            output = asyncio.run_coroutine_threadsafe(read(), self.loop).result(self.timeout_s)
        except Exception as exc:  # noqa: BLE001 — the model is told the tool failed (and the trace keeps why)
            output = f"error: {type(exc).__name__}: {exc}"
        output = output[:TOOL_OUTPUT_CHARS]
        ms = int((time.monotonic() - started) * 1000)
        self.trace.steps.append({"tool": name, "input": arguments, "output": output, "ms": ms})
        return output


def _row(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    found["updated_at"] = found["updated_at"].isoformat()
    found["data"] = json.loads(found["data"]) if isinstance(found["data"], str) else found["data"]
    return found


class ReadRecordsArgs(BaseModel):
    kind: str = Field(description="the record kind: one of those this agent may read")
    id: str = Field(default="", description="a record id (rec_...) or the provider's id; empty: the most recent")
    limit: int = Field(default=5, ge=1, le=20, description="how many recent records when no id is given")


class ReadRecords(BaseTool):
    name: str = "read_records"
    description: str = "Read the tenant's records (orders, contacts ...) by id, or the most recent of a kind."
    args_schema: type[BaseModel] = ReadRecordsArgs
    ctx: Any = None

    def _run(self, kind: str, id: str = "", limit: int = 5) -> str:
        args = {"kind": kind, "id": id, "limit": limit}
        allowed = self.ctx.spec.reads.records

        async def read() -> str:
            if kind not in allowed:
                return f"error: this agent may read only the record kinds {allowed}"
            async with tenant_transaction(self.ctx.pool, self.ctx.tenant_id) as conn:
                if id:
                    rows = await conn.fetch(
                        f"SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND NOT deleted "
                        "AND (id = $2 OR external_id = $2) ORDER BY updated_at DESC LIMIT 5",
                        kind,
                        id,
                    )
                else:
                    rows = await conn.fetch(
                        f"SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND NOT deleted "
                        "ORDER BY updated_at DESC LIMIT $2",
                        kind,
                        limit,
                    )
            for row in rows:
                self.ctx.trace.cite(row["id"], row["kind"], row["source"], row["external_id"], row["title"])
            return json.dumps([_row(r) for r in rows], default=str) if rows else f"no {kind} record found"

        return self.ctx.call(self.name, args, read)


class SearchKnowledgeArgs(BaseModel):
    query: str = Field(description="what to look for in the tenant's documents and records")
    k: int = Field(default=5, ge=1, le=10)


class SearchKnowledge(BaseTool):
    name: str = "search_knowledge"
    description: str = "Hybrid search over the tenant's knowledge; answers numbered passages [n] to cite."
    args_schema: type[BaseModel] = SearchKnowledgeArgs
    ctx: Any = None

    def _run(self, query: str, k: int = 5) -> str:
        async def read() -> str:
            if self.ctx.searcher is None:
                return "search is not available in this process"
            found = await retrieve(self.ctx.searcher, self.ctx.tenant_id, query, self.ctx.spec.id, k)
            for c in found:
                self.ctx.trace.cite(c.record_id, c.kind, c.source, c.external_id, c.title)
            return as_context(found) or "nothing found"

        return self.ctx.call(self.name, {"query": query, "k": k}, read)


class QueryAggregatesArgs(BaseModel):
    name: str = Field(description="the aggregate: " + "; ".join(f"{k}: {a.description}" for k, a in AGGREGATES.items()))
    since: str = Field(default="", description="first day (YYYY-MM-DD), where the aggregate has days")
    until: str = Field(default="", description="last day (YYYY-MM-DD)")
    currency: str = Field(default="", description="one currency (EUR ...), where the aggregate has currencies")
    limit: int = Field(default=50, ge=1, le=200)


class QueryAggregates(BaseTool):
    """The fixed read-only views of agents/aggregates.py, by name: never SQL from the model."""

    name: str = "query_aggregates"
    description: str = "Read a fixed aggregate of the tenant's business (sales per day, best products ...)."
    args_schema: type[BaseModel] = QueryAggregatesArgs
    ctx: Any = None

    def _run(self, name: str, since: str = "", until: str = "", currency: str = "", limit: int = 50) -> str:
        args = {"name": name, "since": since, "until": until, "currency": currency, "limit": limit}
        allowed = self.ctx.spec.reads.aggregates or list(AGGREGATES)  # an entry that names none may read each

        async def read() -> str:
            if name not in allowed:
                return f"error: this agent may read only the aggregates {allowed}"
            rows = await query_aggregate(
                self.ctx.pool,
                self.ctx.tenant_id,
                name,
                since=date.fromisoformat(since) if since else None,
                until=date.fromisoformat(until) if until else None,
                currency=currency or None,
                limit=limit,
            )
            return json.dumps(rows, default=str) if rows else "no rows"

        return self.ctx.call(self.name, args, read)


TOOLS: dict[str, type[BaseTool]] = {
    "read_records": ReadRecords,
    "search_knowledge": SearchKnowledge,
    "query_aggregates": QueryAggregates,
}


def tools_for(ctx: ToolContext) -> list[BaseTool]:
    """The entry's tools (spec.tools), each bound to the run's tenant."""
    return [TOOLS[name](ctx=ctx) for name in ctx.spec.tools]

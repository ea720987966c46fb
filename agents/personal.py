"""The personal agent: one per tenant, answering questions about the business in a conversation.

Each question is one turn: the model is called with the conversation so far and the tools of agents/chat_tools.py,
streamed; tool calls are answered (under the tenant's row-level security) and the model called again, at most
`max_rounds` times, then once more without tools so a turn always ends with an answer. The turn yields ChatEvents
as it goes (the gateway sends them as server-sent events) and keeps both messages, with the answer's citations and
tool calls, in agent_conversations / agent_messages.

A turn spends the tenant's daily token budget, like a specialist's run (agents/budget.py): a tenant over it is refused
before anything is stored or the model is called, and the tokens the model reported are charged when the turn ends
(also when the model fails part-way: the rounds it answered were used).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from openai import AsyncOpenAI

from agents.budget import budget_refusal, charge_turn
from agents.chat_tools import TOOLS, ToolContext, ToolRefused, call_tool, enabled_agents
from agents.config import AgentsConfig
from agents.tenant_settings import load_tenant_limits
from db.pool import tenant_transaction
from events.ids import new_id

SYSTEM_PROMPT = """You are the assistant of a small business on the BizOSaaS platform. Answer questions about the \
business from what your tools return: its records (orders, products, contacts, invoices ...), figures the platform \
computes, and its documents. Never invent a figure or a record: when the tools do not hold the answer, say so. Money \
amounts are in minor units (cents) with a currency: write them for people (12.50 EUR). Cite the records and passages \
you used. You may delegate work to the business's enabled specialist agents: {agents}."""


class Started(msgspec.Struct, tag="conversation"):
    conversation_id: str


class Delta(msgspec.Struct, tag="delta"):
    text: str


class ToolUsed(msgspec.Struct, tag="tool"):
    name: str
    arguments: dict[str, Any]
    error: str | None = None


class Done(msgspec.Struct, tag="done"):
    conversation_id: str
    message: int  # the answer's seq in the conversation
    citations: list[dict[str, Any]]
    tokens_in: int
    tokens_out: int


ChatEvent = Started | Delta | ToolUsed | Done


class ConversationNotFound(LookupError):
    """The conversation id is not one of this tenant's."""


class OverBudget(RuntimeError):
    """The tenant spent its daily token budget: the turn is refused before the model is called."""


@dataclass(frozen=True)
class PersonalAgent:
    llm: AsyncOpenAI
    model: str
    limits: AgentsConfig  # the deployment's token budget, the default and the most a tenant may set
    max_rounds: int = 4  # model calls that may use tools in one turn
    history_messages: int = 20  # earlier messages sent along
    tools: list[dict[str, Any]] = field(default_factory=lambda: TOOLS)

    async def turn(
        self, ctx: ToolContext, question: str, conversation_id: str | None = None
    ) -> AsyncIterator[ChatEvent]:
        conversation_id, history, asked = await _open(ctx, conversation_id, question, self.limits)
        turn_id = f"chat_{conversation_id}_{asked}"  # one usage row per turn: the question's message
        yield Started(conversation_id)
        agents = ", ".join(await enabled_agents(ctx.pool, ctx.tenant_id)) or "none are enabled"
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT.format(agents=agents)}]
        messages += [*history[-self.history_messages :], {"role": "user", "content": question}]
        citations: list[dict[str, Any]] = []
        calls_log: list[dict[str, Any]] = []
        usage = [0, 0]
        answer: list[str] = []
        try:
            async for event in self._rounds(ctx, messages, citations, calls_log, usage, answer):
                yield event
        except Exception:
            async with tenant_transaction(ctx.pool, ctx.tenant_id) as conn:
                await charge_turn(conn, ctx.tenant_id, turn_id, sum(usage))  # what the model reported before
            raise
        seq = await _close(ctx, conversation_id, turn_id, "".join(answer), citations, calls_log, usage)
        yield Done(conversation_id, seq, citations, usage[0], usage[1])

    async def _rounds(self, ctx, messages, citations, calls_log, usage, answer) -> AsyncIterator[ChatEvent]:
        """Call the model until it answers without tools (at most max_rounds + 1 calls), answering its tool calls."""
        for round_no in range(self.max_rounds + 1):
            with_tools = round_no < self.max_rounds  # the last call may not use tools: a turn ends with an answer
            text, calls = "", {}
            stream = await self.llm.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **({"tools": self.tools} if with_tools else {}),
            )
            async for chunk in stream:
                if chunk.usage:
                    usage[0] += chunk.usage.prompt_tokens
                    usage[1] += chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta.content:
                        text += choice.delta.content
                        yield Delta(choice.delta.content)
                    for call in choice.delta.tool_calls or []:
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
            answer.append(text)
            if not calls:
                break
            tool_calls = [_call(c) for c in calls.values()]
            messages.append({"role": "assistant", "content": text or None, "tool_calls": tool_calls})
            for call in calls.values():
                result, used, error = await _answer(ctx, call)
                citations += [c for c in used if c not in citations]
                calls_log.append({"name": call["name"], "arguments": call["arguments"], "error": error})
                yield ToolUsed(call["name"], _arguments(call) or {}, error)
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})


def _call(call: dict[str, str]) -> dict[str, Any]:
    return {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}


def _arguments(call: dict[str, str]) -> dict[str, Any] | None:
    try:
        value = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


async def _answer(ctx: ToolContext, call: dict[str, str]) -> tuple[str, list[dict[str, Any]], str | None]:
    """(the tool message's content, citations, error) — a refused call tells the model what to correct."""
    args = _arguments(call)
    if args is None:
        error = "the arguments are not a JSON object"
        return json.dumps({"error": error}), [], error
    try:
        result, citations = await call_tool(ctx, call["name"], args)
    except ToolRefused as exc:
        return json.dumps({"error": str(exc)}), [], str(exc)
    return json.dumps(result, default=str), citations, None


async def _open(
    ctx: ToolContext, conversation_id: str | None, question: str, limits: AgentsConfig
) -> tuple[str, list[dict[str, Any]], int]:
    """Start a conversation or load one's messages (as model messages), and store the question (its seq answered);
    OverBudget, storing nothing, when the tenant's tokens for today are spent."""
    async with tenant_transaction(ctx.pool, ctx.tenant_id) as conn:
        if refused := await budget_refusal(conn, await load_tenant_limits(conn, limits)):
            raise OverBudget(refused)
        if conversation_id is None:
            conversation_id = "conv_" + new_id().lower()
            await conn.execute(
                "INSERT INTO agent_conversations (tenant_id, id, principal, title) VALUES ($1, $2, $3, $4)",
                ctx.tenant_id,
                conversation_id,
                ctx.principal,
                question[:120],
            )
            rows = []
        else:
            found = await conn.fetchval(
                "SELECT 1 FROM agent_conversations WHERE id = $1 FOR UPDATE", conversation_id
            )  # FOR UPDATE: two turns of one conversation take their seq numbers one after the other
            if not found:
                raise ConversationNotFound(conversation_id)
            rows = await conn.fetch(
                "SELECT role, content FROM agent_messages WHERE conversation_id = $1 ORDER BY seq", conversation_id
            )
        asked = await conn.fetchval(
            """INSERT INTO agent_messages (tenant_id, conversation_id, seq, role, content)
               VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM agent_messages WHERE conversation_id = $2),
                       'user', $3)
               RETURNING seq""",
            ctx.tenant_id,
            conversation_id,
            question,
        )
    return conversation_id, [{"role": r["role"], "content": r["content"]} for r in rows], asked


async def _close(ctx: ToolContext, conversation_id: str, turn_id: str, answer: str, citations, calls, usage) -> int:
    """Store the answer and charge the turn's tokens, in one transaction."""
    async with tenant_transaction(ctx.pool, ctx.tenant_id) as conn:
        seq = await conn.fetchval(
            """INSERT INTO agent_messages (tenant_id, conversation_id, seq, role, content, citations, tool_calls,
                                          tokens_in, tokens_out)
               VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM agent_messages WHERE conversation_id = $2),
                       'assistant', $3, $4::jsonb, $5::jsonb, $6, $7)
               RETURNING seq""",
            ctx.tenant_id,
            conversation_id,
            answer,
            json.dumps(citations),
            json.dumps(calls),
            usage[0],
            usage[1],
        )
        await conn.execute("UPDATE agent_conversations SET updated_at = now() WHERE id = $1", conversation_id)
        await charge_turn(conn, ctx.tenant_id, turn_id, usage[0] + usage[1])
    return seq

"""tests/llm_server.py through the real `openai` client: plain, tool-call, streamed and JSON answers, usage, faults."""

from __future__ import annotations

import json

import openai
import pytest
from factories import local_http_server
from llm_server import LLMServer


@pytest.fixture
async def llm():
    server = LLMServer()
    async with local_http_server(server.app()) as base:
        server.url = base + "/v1"
        async with openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0) as api:
            server.api = api
            yield server


def client(llm: LLMServer) -> openai.AsyncOpenAI:
    return llm.api


async def test_rules_answer_a_tool_call_then_the_final_answer_with_usage(llm):
    llm.rule("order 727", tool="read_records", arguments={"kind": "order", "id": "727"})
    llm.rule("order 727", after_tool="read_records", tool_result="processing", json={"can_ship": True})
    tools = [{"type": "function", "function": {"name": "read_records", "parameters": {"type": "object"}}}]
    messages = [{"role": "system", "content": "You ship orders"}, {"role": "user", "content": "Look at order 727"}]
    first = await client(llm).chat.completions.create(model="m", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("read_records", {"kind": "order", "id": "727"})
    assert first.usage.prompt_tokens == 7 and first.usage.total_tokens > first.usage.prompt_tokens
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": '{"status": "processing"}'}]
    second = await client(llm).chat.completions.create(model="m", messages=messages, tools=tools)
    assert json.loads(second.choices[0].message.content) == {"can_ship": True}
    assert [r["messages"][-1]["role"] for r in llm.requests] == ["user", "tool"]


async def test_a_tool_result_that_misses_the_rule_is_not_answered(llm):
    llm.rule("x", tool="read_records")
    llm.rule("x", after_tool="read_records", tool_result="processing", text="done")
    messages = [{"role": "user", "content": "x"}]
    first = await client(llm).chat.completions.create(model="m", messages=messages)
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "not found"}]
    with pytest.raises(openai.InternalServerError, match="no rule matches"):
        await client(llm).chat.completions.create(model="m", messages=messages)


async def test_streamed_answers_carry_text_tool_calls_and_usage(llm):
    llm.rule("hello", text="a streamed answer that is longer than one chunk", usage=(7, 9))
    llm.rule("call", tool="search_knowledge", arguments={"query": "returns policy"})
    stream = await client(llm).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}], stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        text += "".join(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert text == "a streamed answer that is longer than one chunk"
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, 9)
    stream = await client(llm).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "call"}], stream=True
    )
    args = ""
    async for chunk in stream:
        for c in chunk.choices:
            for call in c.delta.tool_calls or []:
                args += call.function.arguments or ""
    assert json.loads(args) == {"query": "returns policy"}


async def test_json_schema_response_format_and_injected_faults(llm):
    llm.rule("summarise", json={"summary": "ok"}, times=1)
    llm.fail(503)
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}}
    messages = [{"role": "user", "content": "summarise"}]
    with pytest.raises(openai.InternalServerError):
        await client(llm).chat.completions.create(model="m", messages=messages, response_format=fmt)
    answer = await client(llm).chat.completions.create(model="m", messages=messages, response_format=fmt)
    assert json.loads(answer.choices[0].message.content) == {"summary": "ok"}
    with pytest.raises(openai.InternalServerError, match="no rule matches"):  # the rule was used up
        await client(llm).chat.completions.create(model="m", messages=messages)
    assert "m" in [m.id for m in (await client(llm).models.list()).data]

"""A local OpenAI-compatible server that answers by rules, written from OpenAI's chat completions reference, so the
real CrewAI and `openai` client code runs in tests. The only stand-in for a language model.

- `POST /v1/chat/completions`: `messages`, `tools` (the answer may be a `tool_calls` message), `response_format`
  (a rule's JSON answer is sent as the content, as a model constrained by a json_schema would), `stream: true`
  (server-sent `chat.completion.chunk`s, then a usage chunk when `stream_options.include_usage`, then `[DONE]`),
  and `usage` token counts (a whitespace word count of the prompt and of the answer, or the rule's own numbers).
- `GET /v1/models`: the model names seen so far plus `model`.

Rules (`server.rule(...)`, first match wins, in the order added):
- `pattern`: a regex searched (re.S) in the system and user messages joined by newlines; "" matches any.
- `after_tool`: None — the rule answers a conversation whose last message is NOT a tool result (the first turn);
  a tool name — it answers only right after that tool's result; `tool_result` is then a regex the result must
  contain (so a rule can say "only once the record was actually read").
- the answer: `text`, `json` (an object sent as the content's JSON), or `tool` + `arguments` (one tool call).
- `times`: how many requests it may answer (None: any number); used-up rules are skipped.
A request that no rule answers gets 500 with `no rule matches` (the test is wrong, so it must fail loudly).

Faults: `delay_s` holds every answer that long (a slow model, for timeouts); `fail(status, times)` answers the next
`times` requests with that HTTP status. `requests` keeps every request body received, in order.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Rule:
    pattern: str = ""
    text: str | None = None
    json: dict[str, Any] | None = None
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    after_tool: str | None = None
    tool_result: str = ""
    times: int | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); None: counted
    used: int = 0


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _last_tool_result(messages: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(tool name, result) when the last message is a tool result; the name from the assistant's matching call."""
    if not messages or messages[-1].get("role") != "tool":
        return None
    call_id = messages[-1].get("tool_call_id")
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                return call["function"]["name"], _content(messages[-1])
    return "", _content(messages[-1])


def _words(text: str) -> int:
    return len(text.split())


@dataclass
class LLMServer:
    url: str = ""  # the base URL the client is given: http://127.0.0.1:PORT/v1
    model: str = "test-model"
    delay_s: float = 0.0
    rules: list[Rule] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _models: set[str] = field(default_factory=set)

    def rule(self, pattern: str = "", **answer: Any) -> Rule:
        """Add a rule (see the module's docstring); returns it, so a test can read `.used`."""
        found = Rule(pattern=pattern, **answer)
        if sum(x is not None for x in (found.text, found.json, found.tool)) != 1:
            raise ValueError("a rule answers with exactly one of text, json or tool")
        self.rules.append(found)
        return found

    def fail(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        return app

    async def models(self, request: web.Request) -> web.Response:
        names = sorted(self._models | {self.model})
        return web.json_response({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    def _match(self, messages: list[dict[str, Any]]) -> Rule | None:
        prompt = "\n".join(_content(m) for m in messages if m.get("role") in ("system", "user", "developer"))
        tool = _last_tool_result(messages)
        for candidate in self.rules:
            if candidate.times is not None and candidate.used >= candidate.times:
                continue
            if candidate.pattern and not re.search(candidate.pattern, prompt, re.S):
                continue
            if candidate.after_tool is None:
                if tool is not None:
                    continue
            elif tool is None or tool[0] != candidate.after_tool or not re.search(candidate.tool_result, tool[1]):
                continue
            candidate.used += 1
            return candidate
        return None

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self._models.add(body.get("model", ""))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._failures:
            status = self._failures.pop(0)
            return web.json_response({"error": {"message": "injected failure", "type": "server_error"}}, status=status)
        messages = body.get("messages", [])
        found = self._match(messages)
        if found is None:
            error = {"message": "no rule matches this conversation", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=500)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if found.tool is not None:
            call_id = f"call_{len(self.requests)}"
            arguments = json.dumps(found.arguments)
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": found.tool, "arguments": arguments}}
            ]
            finish, answer_text = "tool_calls", arguments
        else:
            message["content"] = found.text if found.text is not None else json.dumps(found.json)
            finish, answer_text = "stop", message["content"]
        prompt_tokens, completion_tokens = found.usage or (
            sum(_words(_content(m)) for m in messages),
            max(_words(answer_text), 1),
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident, created, model = f"chatcmpl-{len(self.requests)}", int(time.time()), body.get("model", self.model)
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                    "usage": usage,
                }
            )
        return await self._stream(request, body, ident, created, model, message, finish, usage)

    async def _stream(self, request, body, ident, created, model, message, finish, usage) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
            chunk |= {"choices": choices, **extra}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            head = {"index": 0, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            await send([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}])
            args = call["function"]["arguments"]
            for start in range(0, len(args), 16):
                part = {"index": 0, "function": {"arguments": args[start : start + 16]}}
                await send([{"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}])
        else:
            text = message["content"]
            for start in range(0, len(text), 16):
                await send([{"index": 0, "delta": {"content": text[start : start + 16]}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

"""One run of a specialist as a CrewAI crew: an Agent (role, goal, backstory, its tools), one Task (the entry's task,
the run's context, the output schema) and a Crew (sequential, memory off, quiet). The answer must be one JSON object
that agents.catalog.validate_output accepts; a first answer that does not gets one repair attempt, told the error.

CrewAI is imported here and in agents/tools.py only, and only activities import those (never the workflow sandbox);
agents/__init__.py has switched its telemetry off before."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from crewai import LLM, Agent, Crew, Process, Task
from crewai.tools import BaseTool

from agents.catalog import AgentSpec, full_output_schema, validate_output
from agents.config import NO_MODEL, AgentRunConfig, llm_configured


class NoLanguageModel(RuntimeError):
    """Neither OPENAI_BASE_URL nor OPENAI_API_KEY is set: a run fails at once with NO_MODEL, never hangs."""


class InvalidOutput(ValueError):
    """The answer is not a JSON object satisfying the entry's output schema (the message says where)."""


def build_llm(config: AgentRunConfig) -> LLM:
    """The deployment's chat model: OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL."""
    if not llm_configured(config):
        raise NoLanguageModel(NO_MODEL)
    return LLM(
        model=f"openai/{config.agent_model}",
        base_url=config.openai_base_url or None,
        api_key=config.openai_api_key or "unused",  # a local server may want none; the client insists on one
        timeout=config.agent_run_timeout_s,
        max_retries=1,
    )


def close_llm(llm: LLM) -> None:
    """Close the HTTP connections the model's client keeps (CrewAI offers no close: its OpenAI client is private)."""
    for name in ("_client",):
        client = getattr(llm, name, None)
        if client is not None:
            client.close()


def build_crew(spec: AgentSpec, llm: LLM, tools: list[BaseTool], context: str, config: AgentRunConfig) -> Crew:
    """The crew of one run; building it calls no model."""
    agent = Agent(
        role=spec.role,
        goal=spec.goal,
        backstory=spec.backstory,
        tools=tools,
        llm=llm,
        max_iter=config.agent_max_iter,
        allow_delegation=False,
        memory=False,
        verbose=False,
    )
    schema = json.dumps(full_output_schema(spec))
    task = Task(
        description=f"{spec.task}\n\n{context}".strip(),
        expected_output=f"{spec.expected_output}. Answer with one JSON object (no prose around it) that satisfies "
        f"this JSON Schema: {schema}",
        agent=agent,
    )
    return Crew(agents=[agent], tasks=[task], process=Process.sequential, memory=False, verbose=False)


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)


def parse_output(spec: AgentSpec, raw: str) -> dict[str, Any]:
    """The answer's JSON object, validated against the entry's schema; InvalidOutput naming the problem."""
    text = _FENCE.sub("", raw.strip())
    start, end = text.find("{"), text.rfind("}")
    try:
        value = json.loads(text[start : end + 1]) if start >= 0 < end else json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"the answer is not a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidOutput("the answer is not a JSON object")
    try:
        validate_output(spec, value)
    except msgspec.ValidationError as exc:
        raise InvalidOutput(f"the answer does not satisfy the output schema: {exc}") from None
    return value


@dataclass
class Answer:
    output: dict[str, Any] | None
    raw: str
    error: str  # the validation error of the last attempt ("" when output is valid)
    tokens_in: int
    tokens_out: int
    attempts: int


def run_crew(spec: AgentSpec, config: AgentRunConfig, tools: list[BaseTool], context: str) -> Answer:
    """Kick the crew off (blocking: the activity runs this in a thread), validate, repair once if needed."""
    tokens_in = tokens_out = 0
    raw, error = "", ""
    for attempt in (1, 2):
        if attempt == 2:
            context = (
                f"{context}\n\nYour previous answer was:\n{raw}\n\nIt was refused: {error}. "
                "Answer again with one JSON object that satisfies the schema."
            )
        llm = build_llm(config)
        try:
            result = build_crew(spec, llm, tools, context, config).kickoff()
        finally:
            close_llm(llm)
        usage = result.token_usage
        tokens_in += usage.prompt_tokens
        tokens_out += usage.completion_tokens
        raw = result.raw or ""
        try:
            return Answer(parse_output(spec, raw), raw, "", tokens_in, tokens_out, attempt)
        except InvalidOutput as exc:
            error = str(exc)
    return Answer(None, raw, error, tokens_in, tokens_out, 2)

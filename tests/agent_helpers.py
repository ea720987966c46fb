"""Shared by the agent tests: the rule-answering LLM server as a fixture, settings pointed at it, and records
inserted as the owner (test set-up; every read under test goes through the service role and row-level security)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from factories import TIMEOUT_S, local_http_server
from llm_server import LLMServer

from agents.config import AgentRunConfig
from consumers.agent_starts import RunStarter


@pytest.fixture
async def llm():
    server = LLMServer()
    async with local_http_server(server.app()) as base:
        server.url = base + "/v1"
        yield server


def llm_config(llm: LLMServer, **overrides) -> AgentRunConfig:
    values = dict(openai_base_url=llm.url, agent_model=llm.model, agent_run_timeout_s=60.0)
    return AgentRunConfig(**(values | overrides))


@contextlib.asynccontextmanager
async def starting(pool, temporal, in_flight: int = 16):
    """The run starter (consumers/agent_starts.py) in this process for the block, as `bizosaas worker` runs it beside
    the agents group (pass `starter.queued` to agents_group to wake it at once)."""
    starter = RunStarter(pool, temporal, in_flight)
    stopping = asyncio.Event()
    task = asyncio.create_task(starter.run(stopping))
    try:
        yield starter
    finally:
        stopping.set()
        await asyncio.wait_for(task, TIMEOUT_S)


async def outbox(admin) -> list:
    """The agents group's queued run requests (every tenant's: read as the owner)."""
    return await admin.fetch("SELECT * FROM agent_run_requests ORDER BY id")


async def insert_record(admin, tenant: str, kind: str, external_id: str, status: str, data: dict, source="woo-1"):
    """A record as the projector would have left it; answers its id."""
    record_id = f"rec_{tenant}_{kind}_{external_id}"
    await admin.execute(
        """INSERT INTO records (tenant_id, kind, source, external_id, id, provider, status, title, updated_at,
                                recorded_at, data, event_id, stream_ms, stream_seq)
           VALUES ($1, $2, $3, $4, $5, 'woocommerce', $6, $7, now(), now(), $8::jsonb, 'e', 1, 0)""",
        tenant,
        kind,
        source,
        external_id,
        record_id,
        status,
        f"{kind} {external_id}",
        json.dumps(data),
    )
    return record_id

"""The consumer groups a worker can run, by name: one module per group (projector, metrics, commands, deliveries,
indexer, agents, outbound, notifications), each a consumers.group.Group. A new group registers its factory here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from connectors.config import ConnectorsConfig
from consumers.agents import agents_group
from consumers.commands import RunnerContext, commands_group
from consumers.deliveries import deliveries_group
from consumers.group import Group
from consumers.indexer import indexer_group
from consumers.metrics import metrics_group
from consumers.notifications import notifications_group
from consumers.outbound import outbound_group
from consumers.projector import projector_group
from rag.config import RagConfig


@dataclass(frozen=True)
class GroupContext:
    pool: asyncpg.Pool  # the service role's pool: row-level security applies
    redis: Redis
    partitions: int
    rag: RagConfig = RagConfig()  # the indexer's embedder and chunking
    temporal: Any = None  # the command runners' and the agents group's Temporal client (RunnerContext.temporal)
    connectors: ConnectorsConfig = ConnectorsConfig()  # the command runners' (the default sync interval)
    agent_requests_queued: asyncio.Event | None = None  # the agents group sets it for the run starter beside it


GROUP_FACTORIES: dict[str, Callable[[GroupContext], Group]] = {
    "projector": lambda ctx: projector_group(ctx.pool, ctx.partitions),
    "metrics": lambda ctx: metrics_group(ctx.pool, ctx.partitions),
    "commands": lambda ctx: commands_group(
        RunnerContext(ctx.pool, ctx.redis, ctx.temporal, ctx.connectors, ctx.partitions)
    ),
    "deliveries": lambda ctx: deliveries_group(ctx.pool),
    "indexer": lambda ctx: indexer_group(ctx.pool, ctx.partitions, ctx.rag),
    "agents": lambda ctx: agents_group(ctx.pool, ctx.partitions, queued=ctx.agent_requests_queued),
    "outbound": lambda ctx: outbound_group(ctx.pool, ctx.partitions, ctx.connectors.outbound_subscription_cache_s),
    "notifications": lambda ctx: notifications_group(ctx.partitions, ctx.temporal),
}

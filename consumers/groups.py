"""The consumer groups a worker can run, by name. A new group registers its factory here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from consumers.base import Group
from consumers.commands import commands_group
from consumers.deliveries import deliveries_group
from consumers.indexer import indexer_group
from consumers.projector import projector_group
from consumers.usage import metrics_group
from rag.config import RagConfig


@dataclass(frozen=True)
class GroupContext:
    pool: asyncpg.Pool  # the service role's pool: row-level security applies
    redis: Redis
    partitions: int
    rag: RagConfig = RagConfig()  # the indexer's embedder and chunking


GROUP_FACTORIES: dict[str, Callable[[GroupContext], Group]] = {
    "projector": lambda ctx: projector_group(ctx.pool, ctx.partitions),
    "metrics": lambda ctx: metrics_group(ctx.pool, ctx.partitions),
    "commands": lambda ctx: commands_group(ctx.pool),
    "deliveries": lambda ctx: deliveries_group(ctx.pool),
    "indexer": lambda ctx: indexer_group(ctx.pool, ctx.partitions, ctx.rag),
}

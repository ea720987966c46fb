"""Where a webhook goes: its connector's tenant, provider and config, looked up before any tenant is known.

Cached in the process for `ttl_s`, so a provider's steady stream of deliveries never waits for Postgres; a deleted
or disabled connector stops receiving within `ttl_s` on other gateway processes (at once on the one that deleted it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Target:
    tenant_id: str
    provider: str
    config: dict[str, Any] = field(default_factory=dict)


class Targets:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 10.0, max_size: int = 100_000) -> None:
        self.pool, self.ttl_s, self.max_size = pool, ttl_s, max_size
        self._cache: dict[str, tuple[float, Target | None]] = {}

    async def get(self, connector_id: str) -> Target | None:
        now = time.monotonic()
        cached = self._cache.get(connector_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self.pool.fetchrow("SELECT tenant_id, provider, config FROM webhook_target($1)", connector_id)
        target = Target(row["tenant_id"], row["provider"], json.loads(row["config"])) if row else None
        if len(self._cache) >= self.max_size:
            self._cache.clear()
        self._cache[connector_id] = (now + (self.ttl_s if target else min(self.ttl_s, 1.0)), target)
        return target

    def forget(self, connector_id: str) -> None:
        self._cache.pop(connector_id, None)

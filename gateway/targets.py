"""Where a webhook goes: its connector's tenant, provider and config, looked up before any tenant is known.

Cached in the process for `ttl_s`, so a provider's steady stream of deliveries never waits for Postgres; a deleted
or disabled connector stops receiving at once in every gateway process (gateway/invalidation.py drops the entry).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from connectors.lru import MISSING, ExpiringLru

# what POST /v1/connectors makes ("con_" + 128 random bits in hex): anything else is unknown without a lookup
CONNECTOR_ID = re.compile(r"con_[0-9a-f]{32}")


@dataclass(frozen=True)
class Target:
    tenant_id: str
    provider: str
    config: dict[str, Any] = field(default_factory=dict)


class Targets:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 10.0, max_size: int = 100_000) -> None:
        self.pool, self.ttl_s, self.max_size = pool, ttl_s, max_size
        self._cache: ExpiringLru[Target | None] = ExpiringLru(max_size)

    async def get(self, connector_id: str) -> Target | None:
        if not CONNECTOR_ID.fullmatch(connector_id):
            return None
        cached = self._cache.get(connector_id)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        row = await self.pool.fetchrow("SELECT tenant_id, provider, config FROM webhook_target($1)", connector_id)
        target = Target(row["tenant_id"], row["provider"], json.loads(row["config"])) if row else None
        self._cache.put(connector_id, target, self.ttl_s if target else min(self.ttl_s, 1.0))
        return target

    def forget(self, connector_id: str) -> None:
        self._cache.pop(connector_id, None)

    def forget_all(self) -> None:
        self._cache.clear()

"""Rate limits. Tenant and key limits in Redis: GCRA (the generic cell rate algorithm, a token bucket kept as one
timestamp per key), several limits checked and charged atomically by one Lua script, on Redis's clock (no skew
between gateways).

A request passes only when every limit it is subject to admits it, and only then is it charged to all of them:
a request refused by the per-key limit does not use up its tenant's allowance. The webhook abuse limit is the same
algorithm kept in the gateway process (LocalLimiter).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

# KEYS: one per limit. ARGV[2i-1]: the emission interval in microseconds, ARGV[2i]: the burst (requests at once).
# Returns 0 when admitted (and charged), else the microseconds to wait before this request would be admitted.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  tats[i] = new_tat
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    key: str  # keys checked together share a hash tag, so the script runs on one cluster shard
    per_s: float
    burst: int

    @property
    def interval_us(self) -> int:
        return max(1, int(1_000_000 / self.per_s))


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_GCRA)

    async def check(self, limits: Sequence[Limit]) -> float:
        """0.0 when admitted, else the seconds to wait (for Retry-After)."""
        args: list[int] = []
        for limit in limits:
            args += [limit.interval_us, max(1, limit.burst)]
        wait_us = await self._script(keys=[limit.key for limit in limits], args=args)
        return int(wait_us) / 1_000_000


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


def tenant_limits(tenant_id: str, rate_key: str, tenant: tuple[float, int], key: tuple[float, int]) -> list[Limit]:
    return [Limit(f"bz:rl:{{{tenant_id}}}", *tenant), Limit(f"bz:rl:{{{tenant_id}}}:{rate_key}", *key)]


def operator_limits(rate_key: str, key: tuple[float, int]) -> list[Limit]:
    return [Limit(f"bz:rl:{{operator}}:{rate_key}", *key)]


class LocalLimiter:
    """GCRA in this process, for the webhook abuse limit: a Redis round trip per delivery would cost the ingest path
    more than the limit is worth. With N gateway processes a connector may get up to N times the limit, which is
    fine for a guard against floods (fairness between tenants is applied downstream)."""

    def __init__(self, per_s: float, burst: int, max_keys: int = 100_000) -> None:
        self.interval_s, self.tolerance_s = 1.0 / per_s, max(1, burst) / per_s
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    def waiting(self, key: str) -> float:
        """The seconds `key` must wait before it would be admitted (0.0: now), charging nothing."""
        now = time.monotonic()
        return max(0.0, max(self._tat.get(key, now), now) + self.interval_s - self.tolerance_s - now)

    def check(self, key: str) -> float:
        """0.0 when admitted (and charged), else the seconds to wait."""
        now = time.monotonic()
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + self.interval_s
        wait = new_tat - self.tolerance_s - now
        if wait > 0:
            return wait
        if len(self._tat) >= self.max_keys:
            self._tat = {k: v for k, v in self._tat.items() if v > now}  # drop the idle ones
        self._tat[key] = new_tat
        return 0.0

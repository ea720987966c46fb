"""Servers' health as an operator sees it: Redis, Postgres, Vault, Temporal and the gateway, each probed with a short
timeout; a server that does not answer is DOWN with the reason. `bizosaas status` prints these rows and the
console's health page shows them (the same functions: `servers_health`).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
from redis.asyncio import Redis

PROBE_TIMEOUT_S = 3.0
SERVERS = ("redis", "postgres", "vault", "temporal", "gateway")


@dataclass(frozen=True)
class ServerHealth:
    name: str
    where: str  # host:port (never a credential)
    ok: bool
    facts: str  # what it said, or why it is DOWN


def where(url: str) -> str:
    """A URL without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}{parts.path}" if parts.port else f"{parts.hostname}{parts.path}"


async def probe(check: Awaitable[str]) -> tuple[bool, str]:
    try:
        return True, await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return False, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:80]


async def redis_facts(redis: Redis) -> str:
    info = await redis.info()
    aof = "AOF on" if info.get("aof_enabled") else "AOF OFF"
    return (
        f"Redis {info['redis_version']}, {info['used_memory_human']} used, {aof}, "
        f"maxmemory-policy {info.get('maxmemory_policy', '?')}"
    )


async def postgres_facts(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    version = await conn.fetchval("SHOW server_version")
    vector = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    facts = f"PostgreSQL {version.split()[0]}, pgvector {vector or 'MISSING'}"
    try:
        migrations = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    except asyncpg.InsufficientPrivilegeError:  # the gateway's service role may not read it; the owner may
        return facts
    return f"{facts}, {migrations} migration(s) applied"


def http_json(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:  # sealed Vault answers 503, an unready gateway 503: still an answer
        return exc.code, exc.read()


async def vault_facts(addr: str) -> str:
    _status, body = await asyncio.to_thread(http_json, f"{addr.rstrip('/')}/v1/sys/health")
    health = json.loads(body)
    if not health.get("initialized"):
        raise RuntimeError("not initialized")
    if health.get("sealed"):
        raise RuntimeError("sealed: unseal it (vault operator unseal)")
    return f"unsealed, version {health.get('version', '?')}"


async def temporal_reachable(address: str) -> str:
    """Whether Temporal's frontend takes connections. The gateway starts no workflow and holds no Temporal SDK
    (docs/architecture.md), so from here this is all; `bizosaas status` also counts the task queues' pollers."""
    host, _, port = address.rpartition(":")
    _reader, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
    writer.close()
    await writer.wait_closed()
    return "takes connections (`bizosaas status` shows its task queues' pollers)"


async def gateway_facts(base: str) -> str:
    """A gateway's readiness from outside (GET /readyz)."""
    status, body = await asyncio.to_thread(http_json, f"{base}/readyz")
    return readiness_facts(json.loads(body), status == 200)


def readiness_facts(ready: dict, ok: bool) -> str:
    """What GET /readyz's answer says, or the error naming what it cannot reach."""
    down = [part for part in ("redis", "postgres", "vault") if not ready.get(part)]
    if not ok:
        raise RuntimeError(f"not ready: cannot reach {', '.join(down)}")
    return f"ready (reaches redis, postgres and vault; search model {ready.get('search', '?')})"


async def servers_health(
    redis: Redis,
    postgres: Awaitable[str] | tuple[bool, str],
    vault_addr: str,
    temporal: Awaitable[str],
    gateway: Awaitable[str],
    places: tuple[str, str, str, str, str],
) -> list[ServerHealth]:
    """Every server's row (in SERVERS order), probed at once. `postgres` is postgres_facts(...) or, when no connection
    could be made, (False, the reason); `temporal` and `gateway` are probes of them: from outside the gateway
    (`bizosaas status`) the Temporal SDK's and GET /readyz, from inside it a connection and the process's own check;
    `places` says where each server is, without credentials (`where(url)`)."""
    probes = await asyncio.gather(
        probe(redis_facts(redis)),
        asyncio.sleep(0, postgres) if isinstance(postgres, tuple) else probe(postgres),
        probe(vault_facts(vault_addr)),
        probe(temporal),
        probe(gateway),
    )
    return [ServerHealth(n, w, ok, facts) for n, w, (ok, facts) in zip(SERVERS, places, probes, strict=True)]

"""`bizosaas status`: one screen for an operator — each server's health, every stream's length, each group's lag,
pending entries and dead letters, the last delivery per connector, and the rates of the last minute.

Reads as the platform operator: Redis, Postgres as the owner (DATABASE_ADMIN_URL: deliveries span tenants), Vault's
unauthenticated health, Temporal's health service and the gateway's /readyz. Every probe has a short timeout; a server
that does not answer is shown DOWN with the reason, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
from redis.asyncio import Redis

from bizosaas.settings import Settings
from events.streams import all_event_streams
from producers.inspect import overview

PROBE_TIMEOUT_S = 3.0
CONNECTORS_SHOWN = 12


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("status", help="servers, streams, groups, last deliveries and rates on one screen")
    parser.set_defaults(run=run)


def _where(url: str) -> str:
    """A URL without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}{parts.path}" if parts.port else f"{parts.hostname}{parts.path}"


async def _probe(check) -> tuple[bool, str]:
    try:
        return True, await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return False, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:80]


async def _redis_facts(redis: Redis) -> str:
    info = await redis.info()
    aof = "AOF on" if info.get("aof_enabled") else "AOF OFF"
    return (
        f"Redis {info['redis_version']}, {info['used_memory_human']} used, {aof}, "
        f"maxmemory-policy {info.get('maxmemory_policy', '?')}"
    )


async def _postgres_facts(conn: asyncpg.Connection) -> str:
    version = await conn.fetchval("SHOW server_version")
    vector = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    migrations = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    return f"PostgreSQL {version.split()[0]}, pgvector {vector or 'MISSING'}, {migrations} migration(s) applied"


def _http_json(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:  # sealed Vault answers 503, an unready gateway 503: still an answer
        return exc.code, exc.read()


async def _vault_facts(addr: str) -> str:
    _status, body = await asyncio.to_thread(_http_json, f"{addr.rstrip('/')}/v1/sys/health")
    health = json.loads(body)
    if not health.get("initialized"):
        raise RuntimeError("not initialized")
    if health.get("sealed"):
        raise RuntimeError("sealed: unseal it (vault operator unseal)")
    return f"unsealed, version {health.get('version', '?')}"


async def _temporal_facts(address: str) -> str:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client  # imported here: the SDK loads a native runtime

    from agents.temporal.shared import TASK_QUEUE as AGENTS_QUEUE
    from connectors.temporal.shared import TASK_QUEUE

    client = await Client.connect(address)
    if not await client.service_client.check_health():
        raise RuntimeError("health check says not serving")
    counts = []
    for name in (TASK_QUEUE, AGENTS_QUEUE):
        queue = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=name),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        counts.append(f"{len(queue.pollers)} temporal-worker poller(s) on task queue `{name}`")
    # workers that polled recently: with none, connector set-up, syncs, actions and agent runs wait for
    # `bizosaas temporal-worker`
    return "serving; " + ", ".join(counts)


async def _gateway_facts(base: str) -> str:
    status, body = await asyncio.to_thread(_http_json, f"{base}/readyz")
    ready = json.loads(body)
    down = [part for part in ("redis", "postgres", "vault") if not ready.get(part)]
    if status != 200:
        raise RuntimeError(f"not ready: cannot reach {', '.join(down)}")
    return "ready (reaches redis, postgres and vault)"


LAST_DELIVERIES = f"""
SELECT c.provider, c.id, c.name, d.topic, d.outcome, d.received_at, d.error,
       (SELECT count(*) FROM deliveries x WHERE x.tenant_id = c.tenant_id AND x.connector_id = c.id
                                          AND x.received_at > now() - interval '1 hour') AS last_hour
FROM connectors c
LEFT JOIN LATERAL (SELECT topic, outcome, received_at, error FROM deliveries d
                   WHERE d.tenant_id = c.tenant_id AND d.connector_id = c.id
                   ORDER BY received_at DESC LIMIT 1) d ON true
ORDER BY d.received_at DESC NULLS LAST, c.created_at DESC
LIMIT {CONNECTORS_SHOWN + 1}
"""


async def _minute_rates(conn: asyncpg.Connection, streams: list[str]) -> dict[str, int]:
    since_ms = int(time.time() * 1000) - 60_000
    return {  # event_log by its stream position (indexed), deliveries by receipt time
        "events": await conn.fetchval(
            "SELECT count(*) FROM event_log WHERE stream = ANY($1) AND stream_ms > $2", streams, since_ms
        ),
        "webhooks": await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE received_at > now() - interval '1 minute'"
        ),
        "commands": await conn.fetchval("SELECT count(*) FROM commands WHERE issued_at > now() - interval '1 minute'"),
    }


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, (datetime.now(UTC) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _print_servers(rows: list[tuple[str, str, bool, str]]) -> None:
    print("servers")
    for name, where, ok, facts in rows:
        print(f"  {name:<9} {'ok' if ok else 'DOWN':<5} {where:<32} {facts}")


def _print_streams(infos, dead: dict[str, int]) -> None:
    print(f"\n{'streams':<24}{'length':>9}  last entry")
    groups: dict[str, list[int]] = {}
    hidden = 0
    for info in infos:
        if info.length == 0 and info.stream.startswith("bz:replay:"):
            hidden += 1  # an idle replay stream says nothing
            continue
        last = datetime.fromtimestamp(int(info.last_id.split("-")[0]) / 1000, UTC) if info.last_id else None
        print(f"  {info.stream:<22}{info.length:>9}  {_ago(last)}")
        for g in info.groups:
            total = groups.setdefault(g.name, [0, 0, 0])
            total[0] += g.lag or 0
            total[1] += g.pending
            total[2] = max(total[2], g.consumers)
    if hidden:
        print(f"  ({hidden} empty replay streams not shown)")
    print(f"\n{'groups':<14}{'lag':>9}{'pending':>9}{'dead':>7}{'consumers':>11}")
    for name in sorted(set(groups) | set(dead)):
        lag, pending, consumers = groups.get(name, [0, 0, 0])
        print(f"  {name:<12}{lag:>9}{pending:>9}{dead.get(name, 0):>7}{consumers:>11}")


def _print_deliveries(rows) -> None:
    print(f"\n{'last delivery per connector':<41} {'topic':<24} {'outcome':<10} {'when':<10} {'1 h':>5}")
    if not rows:
        print("  (no connectors yet)")
    for row in rows[:CONNECTORS_SHOWN]:
        label = f"{row['provider']} {row['name']}"[:39]
        outcome = row["outcome"] or "-"
        print(
            f"  {label:<39} {(row['topic'] or '-')[:24]:<24} {outcome:<10} {_ago(row['received_at']):<10} "
            f"{row['last_hour']:>5}"
        )
    if len(rows) > CONNECTORS_SHOWN:
        print("  ... more connectors: GET /v1/connectors per tenant")


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{host}:{settings.port}"
    redis = Redis.from_url(settings.redis_url, socket_timeout=PROBE_TIMEOUT_S)
    conn_ok, conn = await _probe(asyncpg.connect(settings.database_admin_url, timeout=PROBE_TIMEOUT_S))
    try:
        probes = await asyncio.gather(
            _probe(_redis_facts(redis)),
            _probe(_postgres_facts(conn)) if conn_ok else asyncio.sleep(0, (False, conn)),
            _probe(_vault_facts(settings.vault_addr)),
            _probe(_temporal_facts(settings.temporal_address)),
            _probe(_gateway_facts(base)),
        )
        wheres = [
            _where(settings.redis_url),
            _where(settings.database_admin_url),
            settings.vault_addr,
            settings.temporal_address,
            base,
        ]
        names = ["redis", "postgres", "vault", "temporal", "gateway"]
        print(f"BizOSaaS status  {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        _print_servers([(n, w, ok, facts) for n, w, (ok, facts) in zip(names, wheres, probes)])
        if probes[0][0]:
            infos, dead = await overview(redis, settings.partitions)
            _print_streams(infos, dead)
        if conn_ok:
            try:
                rates = await _minute_rates(conn, all_event_streams(settings.partitions))
                deliveries = await conn.fetch(LAST_DELIVERIES)
            except asyncpg.UndefinedTableError as exc:
                print(f"\nthe database is not migrated ({exc}): run `bizosaas migrate`")
                return 1
            print(
                f"\nlast minute  events {rates['events']} ({rates['events'] / 60:.1f}/s)   webhooks "
                f"{rates['webhooks']} ({rates['webhooks'] / 60:.1f}/s)   commands {rates['commands']}"
            )
            _print_deliveries(deliveries)
        return 0 if all(ok for ok, _ in probes) else 1
    finally:
        await redis.aclose()
        if conn_ok:
            await conn.close()

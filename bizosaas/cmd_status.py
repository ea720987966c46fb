"""`bizosaas status`: one screen for an operator — each server's health, every stream's length, each group's lag,
pending entries and dead letters, the last delivery per connector, and the rates of the last minute.

Reads as the platform operator: Redis, Postgres as the owner (DATABASE_ADMIN_URL: deliveries span tenants), Vault's
unauthenticated health, Temporal's health service and the gateway's /readyz. Every probe has a short timeout; a server
that does not answer is shown DOWN with the reason, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis

from bizosaas.settings import Settings
from events.streams import all_event_streams
from gateway.health import PROBE_TIMEOUT_S, ServerHealth, gateway_facts, postgres_facts, probe, servers_health, where
from producers.inspect import overview

CONNECTORS_SHOWN = 12


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("status", help="servers, streams, groups, last deliveries and rates on one screen")
    parser.set_defaults(run=run)


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


def _print_servers(rows: list[ServerHealth]) -> None:
    print("servers")
    for row in rows:
        print(f"  {row.name:<9} {'ok' if row.ok else 'DOWN':<5} {row.where:<32} {row.facts}")


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
    conn_ok, conn = await probe(asyncpg.connect(settings.database_admin_url, timeout=PROBE_TIMEOUT_S))
    try:
        places = (
            where(settings.redis_url),
            where(settings.database_admin_url),
            settings.vault_addr,
            settings.temporal_address,
            base,
        )
        servers = await servers_health(
            redis,
            postgres_facts(conn) if conn_ok else (False, conn),
            settings.vault_addr,
            _temporal_facts(settings.temporal_address),
            gateway_facts(base),
            places,
        )
        print(f"BizOSaaS status  {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        _print_servers(servers)
        if servers[0].ok:
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
        return 0 if all(s.ok for s in servers) else 1
    finally:
        await redis.aclose()
        if conn_ok:
            await conn.close()

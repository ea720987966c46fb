"""`bizosaas temporal-worker`: run the connectors' Temporal workflows and activities (task queue `connectors`) and the
agent runs' (task queue `agents`) against TEMPORAL_ADDRESS until SIGTERM; one process serves both queues."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis
from temporalio.client import Client

from agents.temporal.activities import AgentDeps
from agents.temporal.shared import TASK_QUEUE as AGENTS_TASK_QUEUE
from agents.temporal.worker import build_worker as build_agents_worker
from bizosaas.settings import Settings, refuse_unsafe
from connectors.credentials import VaultSecrets
from connectors.oauth import TokenSource
from connectors.sync_deps import SyncDeps
from connectors.temporal.client import apply_usage_schedule
from connectors.temporal.shared import TASK_QUEUE
from connectors.temporal.worker import build_worker
from db.pool import create_pool
from producers.publisher import Publisher
from rag.retrieval import Searcher

log = logging.getLogger("bizosaas.temporal_worker")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "temporal-worker", help="run the connectors' and the agent runs' Temporal workflows and activities"
    )
    parser.add_argument("--task-queue", default=TASK_QUEUE, help=f"the connectors' queue; default: {TASK_QUEUE}")
    parser.add_argument(
        "--agents-task-queue", default=AGENTS_TASK_QUEUE, help=f"the agent runs' queue; default: {AGENTS_TASK_QUEUE}"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    refuse_unsafe(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.metrics_port >= 0:  # like every worker process (compose's health check and Prometheus read it)
        server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
        log.info("temporal worker serving /metrics on %s:%d", settings.metrics_host, server.server_port)
    client = await _connect(settings.temporal_address, stop)
    if client is None:
        return 0  # stopped before Temporal answered
    redis = Redis.from_url(settings.redis_url)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    searcher = Searcher(pool, settings)
    try:
        secrets = VaultSecrets(
            settings.vault_addr,
            settings.vault_token,
            settings.vault_mount,
            settings.vault_prefix,
            settings.secret_cache_s,
        )
        deps = SyncDeps(
            pool,
            Publisher(redis, settings.partitions, settings.dedupe_window_s),
            secrets,
            settings.allow_private_urls,
            TokenSource(redis, pool, secrets, settings.allow_private_urls),
            step_s=settings.sync_step_s,
        )
        agents = AgentDeps(pool, deps.publisher, settings, searcher)
        connectors_worker = build_worker(client, deps, args.task_queue, settings.public_url)
        async with connectors_worker, build_agents_worker(client, agents, args.agents_task_queue):
            log.info(
                "temporal worker on %s, task queues %s and %s",
                settings.temporal_address,
                args.task_queue,
                args.agents_task_queue,
            )
            if await apply_usage_schedule(client, settings.billing_connector, settings.usage_push_interval_s):
                log.info("usage push to Lago every %ds", settings.usage_push_interval_s)
            await stop.wait()
        log.info("temporal worker stopped")
        return 0
    finally:
        await searcher.close()
        await pool.close()
        await redis.aclose()


async def _connect(address: str, stop: asyncio.Event) -> Client | None:
    """Temporal's client, once Temporal answers (it may start after us, or restart): retried with a back-off."""
    delay_s = 1.0
    while not stop.is_set():
        try:
            return await Client.connect(address)
        except RuntimeError as exc:
            log.warning(
                "Temporal does not answer at %s (TEMPORAL_ADDRESS); retrying in %.0f s: %s", address, delay_s, exc
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay_s)
        delay_s = min(delay_s * 2, 30.0)
    return None

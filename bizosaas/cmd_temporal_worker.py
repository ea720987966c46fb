"""`bizosaas temporal-worker`: run the connectors' Temporal workflows and activities (task queue `connectors`)
against TEMPORAL_ADDRESS until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from redis.asyncio import Redis
from temporalio.client import Client

from bizosaas.settings import Settings, refuse_unsafe
from connectors.credentials import VaultSecrets
from connectors.sync import SyncDeps
from connectors.temporal.shared import TASK_QUEUE
from connectors.temporal.worker import build_worker
from db.pool import create_pool
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.temporal_worker")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("temporal-worker", help="run the connectors' Temporal workflows and activities")
    parser.add_argument("--task-queue", default=TASK_QUEUE, help=f"default: {TASK_QUEUE}")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    refuse_unsafe(settings)
    try:
        client = await Client.connect(settings.temporal_address)
    except RuntimeError as exc:
        print(f"bizosaas temporal-worker: Temporal does not answer at {settings.temporal_address}: {exc}")
        return 1
    redis = Redis.from_url(settings.redis_url)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    try:
        secrets = VaultSecrets(
            settings.vault_addr,
            settings.vault_token,
            settings.vault_mount,
            settings.vault_prefix,
            settings.secret_cache_s,
        )
        deps = SyncDeps(
            pool, Publisher(redis, settings.partitions, settings.dedupe_window_s), secrets, settings.allow_private_urls
        )
        worker = build_worker(client, deps, args.task_queue)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            log.info("temporal worker on %s, task queue %s", settings.temporal_address, args.task_queue)
            await stop.wait()
        log.info("temporal worker stopped")
        return 0
    finally:
        await pool.close()
        await redis.aclose()

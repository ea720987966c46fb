"""`bizosaas dispatcher`: run only the outbound webhook dispatcher (consumers/outbound_dispatch.py) until SIGTERM,
then let the requests in flight end. `bizosaas worker outbound` runs one beside the group; with `--no-dispatcher`
it leaves the sending to processes of this command, so the group's inserts and the deliveries can each have a core
(any number of dispatchers may run: a claimed attempt is leased to one)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import asyncpg
from prometheus_client import start_http_server
from redis.asyncio import Redis

from bizosaas import heap
from bizosaas.settings import Settings, refuse_unsafe
from connectors.credentials import VaultSecrets
from consumers.outbound_dispatch import Dispatcher
from db.pool import create_pool
from producers.publisher import Publisher

log = logging.getLogger("bizosaas.dispatcher")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dispatcher", help="run only the outbound webhook dispatcher")
    parser.set_defaults(run=run)


def outbound_dispatcher(settings: Settings, pool: asyncpg.Pool, redis: Redis) -> Dispatcher:
    """The dispatcher as every process runs it: the hooks' signing secrets in Vault, `hook.disabled` published."""
    hook_secrets = VaultSecrets(
        settings.vault_addr,
        settings.vault_token,
        settings.vault_mount,
        settings.vault_prefix,
        settings.secret_cache_s,
        collection="hooks",
    )
    return Dispatcher(pool, hook_secrets, Publisher(redis, settings.partitions, settings.dedupe_window_s), settings)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    refuse_unsafe(settings)
    redis = Redis.from_url(settings.redis_url)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    try:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        if settings.metrics_port >= 0:
            server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
            log.info("dispatcher serving /metrics on %s:%d", settings.metrics_host, server.server_port)
        dispatcher = outbound_dispatcher(settings, pool, redis)
        heap.settle()  # what start-up made stays out of the collections the deliveries' garbage causes
        log.info("dispatcher running")
        await dispatcher.run(stopping)
        log.info("dispatcher stopped")
        return 0
    finally:
        await pool.close()
        await redis.aclose()

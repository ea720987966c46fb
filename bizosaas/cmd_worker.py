"""`bizosaas worker [GROUP ...]`: run consumer groups (all when none is named) until SIGTERM, then drain. A worker
running the `outbound` group also runs the outbound webhook dispatcher (consumers/outbound_dispatch.py) beside it
unless `--no-dispatcher` leaves the sending to `bizosaas dispatcher` processes (bizosaas/cmd_dispatcher.py); one
running the `agents` group runs the run starter (consumers/agent_starts.py), one running the `projector` group the
merging of record search's pending index entries (consumers/search_index.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis

from bizosaas import heap
from bizosaas.cmd_dispatcher import outbound_dispatcher
from bizosaas.settings import Settings, refuse_unsafe
from connectors.temporal.client import LazyTemporal
from consumers.agent_starts import RunStarter
from consumers.agents import GROUP as AGENTS
from consumers.groups import GROUP_FACTORIES, GroupContext
from consumers.outbound import GROUP as OUTBOUND
from consumers.projector import GROUP as PROJECTOR
from consumers.runtime import Runtime
from consumers.search_index import clean_pending_forever
from consumers.trimmer import trim_forever
from db.pool import create_pool

log = logging.getLogger("bizosaas.worker")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("worker", help="run consumer groups (all when none is named)")
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"one of: {', '.join(GROUP_FACTORIES)}")
    parser.add_argument(
        "--no-dispatcher",
        action="store_true",
        help="with the outbound group: queue the attempts only; `bizosaas dispatcher` processes send them",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    refuse_unsafe(settings)
    unknown = [g for g in args.groups if g not in GROUP_FACTORIES]
    if unknown:
        print(f"bizosaas worker: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUP_FACTORIES)}")
        return 2
    names = args.groups or list(GROUP_FACTORIES)
    redis = Redis.from_url(settings.redis_url)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    try:
        temporal = LazyTemporal(settings.temporal_address)  # connected on the first command that needs it
        starter = RunStarter(pool, temporal, settings.agent_start_in_flight) if AGENTS in names else None
        ctx = GroupContext(
            pool=pool,
            redis=redis,
            partitions=settings.partitions,
            rag=settings,
            connectors=settings,
            temporal=temporal,
            agent_requests_queued=starter.queued if starter else None,
        )
        runtime = Runtime(redis, [GROUP_FACTORIES[n](ctx) for n in names], settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.stop)
        if settings.metrics_port >= 0:
            server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
            log.info("worker %s serving /metrics on %s:%d", runtime.consumer, settings.metrics_host, server.server_port)
        heap.settle()  # what start-up made stays out of the collections a batch's garbage causes
        log.info("worker %s running groups %s", runtime.consumer, ", ".join(names))
        trimmer = asyncio.create_task(
            trim_forever(
                redis,
                settings.partitions,
                names,
                settings.stream_retention_s * 1000,
                settings.trim_interval_s,
                runtime.stopping,
            )
        )
        dispatcher = None
        if OUTBOUND in names and not args.no_dispatcher:
            dispatcher = asyncio.create_task(outbound_dispatcher(settings, pool, redis).run(runtime.stopping))
        starting = asyncio.create_task(starter.run(runtime.stopping)) if starter else None
        cleaner = None
        if PROJECTOR in names:  # the projector's statements write record search's index
            cleaner = asyncio.create_task(
                clean_pending_forever(pool, settings.search_index_clean_interval_s, runtime.stopping)
            )
        await runtime.run()
        await trimmer
        for task in (dispatcher, starting, cleaner):
            if task is not None:
                await task
        log.info("worker %s drained and stopped", runtime.consumer)
        return 0
    finally:
        await pool.close()
        await redis.aclose()

"""`bizosaas gateway [--host H] [--port P] [--processes N]`: serve the HTTP gateway (default 127.0.0.1:8001,
BIZOSAAS_PORT; N processes sharing the port, BIZOSAAS_GATEWAY_PROCESSES, default 1: bizosaas/gateway_processes.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from aiohttp import web

from bizosaas import heap
from bizosaas.settings import Settings, refuse_unsafe
from gateway.app import init

log = logging.getLogger("bizosaas.gateway")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("gateway", help="serve the HTTP gateway (webhooks, REST, commands, operator routes)")
    parser.add_argument("--host", help="address to listen on (default: BIZOSAAS_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: BIZOSAAS_PORT or 8001)")
    parser.add_argument(
        "--processes",
        type=int,
        help="gateway processes sharing the port (SO_REUSEPORT) under a supervisor "
        "(default: BIZOSAAS_GATEWAY_PROCESSES or 1)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace):
    settings = Settings.from_env()
    refuse_unsafe(settings)
    host, port = args.host or settings.host, args.port or settings.port
    processes = args.processes or settings.gateway_processes
    if processes < 1:
        raise SystemExit("--processes must be at least 1")
    if processes == 1:
        return serve(host, port)  # a coroutine: the CLI runs it
    from bizosaas.gateway_processes import supervise

    return supervise(processes, host, port, logging.getLogger().getEffectiveLevel())


async def serve(host: str, port: int, reuse_port: bool = False) -> int:
    """One gateway process until SIGTERM or SIGINT, then drain: stop accepting, finish the requests under way."""
    settings = Settings.from_env()
    runner = web.AppRunner(init(settings), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_port=reuse_port or None)
    await site.start()
    heap.settle()  # what start-up made stays out of the collections a request's garbage causes
    log.info("gateway listening on http://%s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0

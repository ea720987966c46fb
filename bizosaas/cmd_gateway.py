"""`bizosaas gateway [--host H] [--port P]`: serve the HTTP gateway (default 127.0.0.1:8001, BIZOSAAS_PORT)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from bizosaas.settings import Settings, refuse_unsafe
from gateway.app import init

log = logging.getLogger("bizosaas.gateway")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("gateway", help="serve the HTTP gateway (webhooks, REST, commands, operator routes)")
    parser.add_argument("--host", help="address to listen on (default: BIZOSAAS_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: BIZOSAAS_PORT or 8001)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    refuse_unsafe(settings)
    host, port = args.host or settings.host, args.port or settings.port
    runner = web.AppRunner(init(settings), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    log.info("gateway listening on http://%s:%d", host, port)
    try:
        await _wait_forever()
    finally:
        await runner.cleanup()
    return 0


async def _wait_forever() -> None:
    await asyncio.Event().wait()

"""The `bizosaas` command. Each sub-command lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys

COMMAND_MODULES = (
    "bizosaas.cmd_migrate",
    "bizosaas.cmd_worker",
    "bizosaas.cmd_temporal_worker",
    "bizosaas.cmd_streams",
    "bizosaas.cmd_projections",
    "bizosaas.cmd_dev",
    "bizosaas.cmd_schemas",
    "bizosaas.cmd_gateway",
    "bizosaas.cmd_tenant",
    "bizosaas.cmd_rag",
    "bizosaas.cmd_status",
    "bizosaas.cmd_local_llm",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizosaas", description="BizOSaaS event backbone")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from bizosaas.logs import configure_logging

    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        result = args.run(args)
        if asyncio.iscoroutine(result):
            result = run_async(result)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(result or 0)


def run_async(coro):
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio works too
        return asyncio.run(coro)
    return uvloop.run(coro)

"""The `bizosaas` command. Each sub-command lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys

# command name -> the module that registers it. Only the named command's module is imported: importing them all
# (the gateway pulls in openai and the portal, the workers temporalio) cost every `bizosaas` process seconds of CPU.
COMMAND_MODULES = {
    "migrate": "bizosaas.cmd_migrate",
    "worker": "bizosaas.cmd_worker",
    "dispatcher": "bizosaas.cmd_dispatcher",
    "temporal-worker": "bizosaas.cmd_temporal_worker",
    "streams": "bizosaas.cmd_streams",
    "replay": "bizosaas.cmd_streams",
    "dead-letters": "bizosaas.cmd_streams",
    "projections": "bizosaas.cmd_projections",
    "dev": "bizosaas.cmd_dev",
    "schemas": "bizosaas.cmd_schemas",
    "gateway": "bizosaas.cmd_gateway",
    "tenant": "bizosaas.cmd_tenant",
    "rag": "bizosaas.cmd_rag",
    "status": "bizosaas.cmd_status",
    "local-llm": "bizosaas.cmd_local_llm",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with a known command in it, only that command is registered; otherwise (no argv, help,
    a typo) every command, so the usage lists them all."""
    parser = argparse.ArgumentParser(prog="bizosaas", description="BizOSaaS event backbone")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = next((a for a in argv or () if not a.startswith("-")), None)
    modules = [COMMAND_MODULES[named]] if named in COMMAND_MODULES else COMMAND_MODULES.values()
    for name in dict.fromkeys(modules):
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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

"""Building real events and running real groups for tests."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.group import Group
from consumers.runtime import Runtime, RuntimeConfig
from events.ids import new_id
from events.types import Order, OrderDeleted, OrderUpserted, Subject

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMEOUT_S = 30.0  # how long a test waits for anything to happen: sized for a machine three times slower than ours
FAST = RuntimeConfig(batch_size=200, block_ms=50, reclaim_idle_ms=300, reclaim_interval_s=0.1, max_deliveries=3)


def order(
    tenant: str,
    number: str,
    version: int = 1,
    total_minor: int = 1000,
    source: str = "woo-1",
    deleted: bool = False,
    **data,
) -> OrderUpserted | OrderDeleted:
    """Version n of order `number`: provider time grows with the version."""
    when = T0 + timedelta(minutes=version)
    cls = OrderDeleted if deleted else OrderUpserted
    return cls(
        id=new_id(),
        tenant_id=tenant,
        source=source,
        provider="woocommerce",
        subject=Subject(kind="order", external_id=number),
        occurred_at=when,
        recorded_at=when,
        data=Order(number=number, status=f"v{version}", total_minor=total_minor, currency="EUR", **data),
    )


_TRUTHY = object()


async def wait_for(probe: Callable[[], Awaitable], expected=_TRUTHY, timeout_s: float = TIMEOUT_S):
    """Poll `probe` until it returns `expected` (or anything truthy); fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value == expected or (expected is _TRUTHY and value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s: last value {value!r}, expected {expected!r}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(redis, groups: list[Group], config: RuntimeConfig = FAST, consumer: str | None = None):
    """Run groups in this process (a real Runtime on the real servers) for the duration of the block; at its end
    stop and drain them (in-flight batches commit and are acknowledged)."""
    runtime = Runtime(redis, groups, config, consumer)
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        runtime.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


def start_worker(env: dict[str, str], log_path, *groups: str) -> subprocess.Popen:
    """`bizosaas worker GROUP...` as a real process; its output goes to log_path."""
    return start_bizosaas(env, log_path, "worker", *groups)


def start_bizosaas(env: dict[str, str], log_path, *args: str) -> subprocess.Popen:
    """`bizosaas ARGS...` as a real process; its output goes to log_path."""
    with open(log_path, "ab") as log:
        command = [sys.executable, "-m", "bizosaas", *args]
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def local_http_server(app):
    """Serve an aiohttp app on a free 127.0.0.1 port (a provider's or an LLM's API, as the tests need it)."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def served(made: Any):
    """The local provider server `made` (tests/providers/) on a free port, its `url` set."""
    async with local_http_server(made.app()) as url:
        made.url = url
        yield made

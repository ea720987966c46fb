"""`bizosaas gateway --processes N`: N gateway processes sharing one port (SO_REUSEPORT: the kernel spreads new
connections over them) under a small supervisor.

One Python process tops out at a few thousand webhooks/s (docs/benchmarks.md); a machine's other cores need more
processes. The supervisor does nothing but: make a fresh PROMETHEUS_MULTIPROC_DIR before any child starts (so
`/metrics` sums every child, gateway/metrics.py), start the children with the `spawn` method (each imports the
gateway afresh, with that variable set, and opens its own pools), start a child again when one dies, and on SIGTERM or
SIGINT pass SIGTERM to every child (each drains its requests: aiohttp's graceful shutdown) and exit when all have.
What the children share beyond the port goes through Redis: cache invalidations (gateway/invalidation.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

log = logging.getLogger("bizosaas.gateway")

RESTART_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)  # a child dying again right after its start waits longer each time
STABLE_AFTER_S = 10.0  # a child that lived this long starts the backoff afresh when it dies


def supervise(processes: int, host: str, port: int, log_level: int) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="bizosaas-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # inherited by the spawned children only
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    context = multiprocessing.get_context("spawn")
    children: dict[int, BaseProcess] = {}
    started_at: dict[int, float] = {}
    failures = dict.fromkeys(range(processes), 0)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for slot in range(processes):
            children[slot], started_at[slot] = _start(context, host, port, log_level), time.monotonic()
        log.info("gateway supervisor: %d processes on http://%s:%d", processes, host, port)
        while children:
            wait([child.sentinel for child in children.values()], timeout=1.0)
            for slot, child in list(children.items()):
                if child.is_alive():
                    continue
                child.join()
                _forget_values(child.pid)
                del children[slot]
                if stopping:
                    continue
                lived_s = time.monotonic() - started_at[slot]
                failures[slot] = 0 if lived_s >= STABLE_AFTER_S else failures[slot] + 1
                delay_s = RESTART_BACKOFF_S[min(failures[slot], len(RESTART_BACKOFF_S)) - 1] if failures[slot] else 0
                log.error(
                    "gateway process %d exited (code %s); starting another in %.1fs", child.pid, child.exitcode, delay_s
                )
                time.sleep(delay_s)
                if not stopping:
                    children[slot], started_at[slot] = _start(context, host, port, log_level), time.monotonic()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _start(context, host: str, port: int, log_level: int) -> BaseProcess:
    child = context.Process(target=_child, args=(host, port, log_level), name="bizosaas-gateway", daemon=False)
    child.start()
    return child


def _forget_values(pid: int | None) -> None:
    """A dead child's live gauges leave the sum (its counters stay: totals never go back)."""
    if pid is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def _child(host: str, port: int, log_level: int) -> None:
    from bizosaas.cli import run_async
    from bizosaas.cmd_gateway import serve
    from bizosaas.logs import configure_logging

    configure_logging(log_level)
    run_async(serve(host, port, reuse_port=True))

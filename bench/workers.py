"""Running `bizosaas worker projector` processes for a benchmark, and knowing when they have drained a backlog.

To measure the consumers and not the interpreter's start-up, the workers start on a group parked at the end of the
streams (`XGROUP CREATE ... $`: nothing to read); once they serve /metrics and wait in XREADGROUP, the group is moved
back to the start (`XGROUP SETID ... 0`) and the backlog flows.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from probes import batches, metrics_port
from redis.asyncio import Redis

from events.streams import all_event_streams, replay_stream

GROUP = "projector"
# what `bizosaas worker projector` runs (bizosaas/cli.py: JSON logs, uvloop, cmd_worker.run), minus the parser that
# imports every other sub-command: the benchmark should not fail because an unrelated command does not import
LAUNCH = """
import argparse, logging, sys, uvloop
from bizosaas.logs import configure_logging
from bizosaas import cmd_worker
configure_logging(logging.INFO)
commands = argparse.ArgumentParser().add_subparsers()
cmd_worker.register(commands)  # the command's own parser: its options' defaults, however many it gains
sys.exit(uvloop.run(cmd_worker.run(commands.choices["worker"].parse_args(sys.argv[1:]))))
"""


class Workers:
    def __init__(self, env: dict, base: Path, root: Path, partitions: int) -> None:
        self.env, self.base, self.root, self.partitions = env, base, root, partitions
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.started = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def start(self, n: int, timeout_s: float = 60) -> None:
        logs = []
        for _ in range(n):
            logs.append(self.base / f"worker-{self.started}.log")
            self.started += 1
            with open(logs[-1], "wb") as out:  # noqa: ASYNC230 - set-up, before anything is measured
                self.procs.append(
                    subprocess.Popen(  # noqa: ASYNC220 - set-up, before anything is measured
                        [sys.executable, "-c", LAUNCH, GROUP],
                        cwd=self.root,
                        env=self.env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + timeout_s
        for log in logs:
            while (port := metrics_port(log)) is None:
                self.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker did not start; see {log}")
                await asyncio.sleep(0.05)
            self.ports.append(port)
        await asyncio.sleep(0.5)  # the runtime logs before its readers reach XREADGROUP

    def check(self) -> None:
        if any(p.poll() is not None for p in self.procs):
            raise RuntimeError(f"a worker exited; see {self.base}/worker-*.log")

    def batches(self) -> tuple[float, float, float]:
        """(batches, seconds in them, entries processed), summed over the running workers."""
        per_worker = [batches(port, GROUP) for port in self.ports]
        return tuple(sum(values) for values in zip(*per_worker)) if per_worker else (0.0, 0.0, 0.0)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs, self.ports = [], []


async def park_group(redis: Redis, admin: asyncpg.Connection, partitions: int) -> None:
    """A fresh projector: empty tables, and its group at the end of every stream (nothing to read yet)."""
    for stream in [*all_event_streams(partitions), replay_stream(GROUP)]:
        if await redis.exists(stream):
            await redis.xgroup_destroy(stream, GROUP)
    for stream in all_event_streams(partitions):
        await redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
    await admin.execute("TRUNCATE event_log, records")
    await admin.execute("VACUUM ANALYZE event_log, records")
    await admin.execute("CHECKPOINT")


async def release_backlog(redis: Redis, partitions: int) -> None:
    for stream in all_event_streams(partitions):
        await redis.xgroup_setid(stream, GROUP, "0", entries_read=0)


async def wait_drained(redis: Redis, partitions: int, timeout_s: float, workers: Workers | None = None) -> None:
    """Until every partition's group has nothing unread and nothing pending (acks follow commits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if workers:
            workers.check()
        busy = False
        for stream in all_event_streams(partitions):
            info = {i["name"].decode(): i for i in await redis.xinfo_groups(stream)}.get(GROUP)
            busy |= info is None or info["pending"] > 0 or await _unread(redis, stream, info)
        if not busy:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"group {GROUP} did not drain within {timeout_s:.0f} s")


async def _unread(redis: Redis, stream: str, info: dict) -> bool:
    if info.get("lag") is not None:
        return info["lag"] > 0
    # Redis < 7 reports no lag: compare the group's last delivered id with the stream's last id
    return info["last-delivered-id"] != (await redis.xinfo_stream(stream))["last-generated-id"]

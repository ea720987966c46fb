"""Where a benchmark phase spent the machine: CPU seconds per process family (from /proc), the workers' batches
(from their own /metrics endpoint), and py-spy profiles of a worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 on (state, ppid, ...)


def cpu_s(pid: int, with_reaped_children: bool = False) -> float:
    """utime + stime of a process (and of children it reaped: Postgres backends that already exited)."""
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    kids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return kids


@dataclass
class CpuSample:
    at: float
    values: dict[str, float]


class CpuMeter:
    """CPU seconds of named process families between two samples."""

    def __init__(self, postgres_pid: int, redis_pid: int) -> None:
        self.postgres_pid, self.redis_pid = postgres_pid, redis_pid

    def sample(self, worker_pids: list[int] = ()) -> CpuSample:
        postgres = cpu_s(self.postgres_pid, with_reaped_children=True) + sum(
            cpu_s(p) for p in children(self.postgres_pid)
        )
        return CpuSample(
            time.monotonic(),
            {
                "workers": sum(cpu_s(p) for p in worker_pids),
                "postgres": postgres,
                "redis": cpu_s(self.redis_pid),
                "bench": cpu_s(os.getpid()),
            },
        )

    @staticmethod
    def used(before: CpuSample, after: CpuSample) -> dict[str, float]:
        """CPU seconds per family, plus the wall time, between two samples."""
        used = {k: round(after.values[k] - before.values[k], 2) for k in after.values}
        return used | {"wall": round(after.at - before.at, 2)}


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used (the others' share shows how shared the machine was)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def metrics_port(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        try:
            msg = json.loads(line).get("msg", "")
        except ValueError:
            continue
        if match := re.search(r"serving /metrics on 127\.0\.0\.1:(\d+)", msg):
            return int(match.group(1))
    return None


def batches(port: int, group: str) -> tuple[float, float, float]:
    """(batches handled, seconds spent in them, entries processed) from a worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    def value(name: str) -> float:
        match = re.search(rf'^{name}{{group="{group}"}} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0

    return (
        value("bizosaas_consumer_batch_seconds_count"),
        value("bizosaas_consumer_batch_seconds_sum"),
        value("bizosaas_consumer_processed_total"),
    )


class Phases:
    """CPU seconds per process family for each phase, and what the rest of the machine used meanwhile."""

    def __init__(self, meter: CpuMeter, result: dict) -> None:
        self.meter, self.result, self.open = meter, result, {}

    def begin(self, name: str, worker_pids: list[int] = ()) -> None:
        self.open[name] = (self.meter.sample(worker_pids), machine_busy_s())

    def end(self, name: str, events: int, worker_pids: list[int] = ()) -> dict:
        before, machine_before = self.open.pop(name)
        used = CpuMeter.used(before, self.meter.sample(worker_pids))
        ours = sum(v for k, v in used.items() if k != "wall")
        used["others"] = round(max(0.0, machine_busy_s() - machine_before - ours), 2)
        self.result.setdefault("cpu_s", {})[name] = used
        per_k = {k: round(1e6 * v / events, 1) for k, v in used.items() if k != "wall" and v}
        ours_us = sum(v for k, v in per_k.items() if k != "others")
        # what the machine's cores could do at this CPU cost per event if nothing else ran and all of them were
        # kept busy: an upper bound that holds up on a shared machine better than the wall-clock rate
        self.result.setdefault("cpu_bound_events_per_s", {})[name] = round(os.cpu_count() * 1e6 / ours_us)
        print(
            f"  cpu {name}: "
            + ", ".join(f"{k} {v} s" for k, v in used.items())
            + " | µs per event: "
            + ", ".join(f"{k} {v}" for k, v in per_k.items())
            + f" | {os.cpu_count()} idle cores would allow {self.result['cpu_bound_events_per_s'][name]:,} ev/s",
            flush=True,
        )
        return used


def start_spy(pid: int, out: Path) -> subprocess.Popen:
    """py-spy (the `bench` extra) sampling a worker's Python stacks, idle time left out, to a folded-stack file."""
    spy = subprocess.Popen(
        [
            Path(sys.executable).parent / "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    return spy


def stop_spy(spy: subprocess.Popen | None) -> None:
    if spy:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


# where a worker's Python time goes: the share of samples with one of these functions on the stack (a sample counts
# once per row, and a row's functions nest, so the rows do not add up to 100%)
PROFILE_ROWS = {
    "a batch (GroupRunner.process)": ("GroupRunner.commit",),
    "  handler: projector transaction": ("Group.process",),
    "    asyncpg (encode args, protocol)": ("Connection.execute", "Connection.fetch"),
    "      set_tenant": ("set_tenant",),
    "      archive -> event_log": ("archive",),
    "      upsert -> records": ("upsert_records",),
    "    rows in Python (latest_states, record_row)": ("latest_rows",),
    "      opaque_id (record id hash)": ("opaque_id",),
    "  decode (msgspec + upcast + UTC check)": ("decode_event",),
    "  XACK": ("GroupRunner._acknowledge",),
    "XREADGROUP (redis-py, hiredis)": ("StreamCommands.xreadgroup", "Redis.execute_command"),
    "reclaim, gauges, trim, /metrics": ("GroupRunner._reclaim_loop", "trim_forever", "BaseServer.serve_forever"),
}


def profile_summary(path: Path) -> dict[str, float]:
    """Percent of a py-spy folded-stack file's samples per PROFILE_ROWS row."""
    loop_row = "the event loop itself (uvloop, no Python frame above it)"
    counts, total = dict.fromkeys([*PROFILE_ROWS, loop_row], 0), 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        total += int(n)
        frames = [frame.split(" (", 1)[0] for frame in stack.split(";")]
        for row, names in PROFILE_ROWS.items():
            if set(frames).intersection(names):
                counts[row] += int(n)
        if frames[-1] == "Runner.run":
            counts[loop_row] += int(n)
    return {row: round(100 * c / max(total, 1), 1) for row, c in counts.items()} | {"samples": total}

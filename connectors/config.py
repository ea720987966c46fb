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
    # --- the platform's public address ---
    # base of the webhook URLs given to providers and of OAuth2's redirect URI; the set-up workflow registers
    # webhooks only when it is set (the gateway answers `webhook_url` from the request's own origin without it)
    public_url: str = ""
    # --- syncs ---
    # a connector's Temporal Schedule syncs every resource this often (incrementally) unless changed for it through
    # POST /v1/connectors/{id}/schedule; set when the connector connects
    sync_interval_s: int = 15 * 60
    # --- outbound webhooks (POST /v1/hooks; the dispatcher in `bizosaas worker`) ---
    outbound_timeout_s: float = 15.0  # one delivery's whole request (the spec recommends 15-30 s)
    outbound_endpoint_concurrency: int = 4  # deliveries in flight per subscription: a dead one holds only these
    outbound_max_in_flight: int = 256  # deliveries in flight per dispatcher (its connection pool's size too)
    outbound_backoff_initial_s: float = 5.0  # the first retry's delay, doubling per failure (with jitter)
    outbound_backoff_max_s: float = 6 * 3600.0
    outbound_max_age_s: int = 3 * 24 * 3600  # the retry horizon: an attempt still failing this long after it was
    # queued is given up (`failed`; POST /v1/hooks/{id}/recover queues it again)
    outbound_disable_after_failures: int = 20  # an endpoint is disabled (hook.disabled.v1) after this many failures
    outbound_disable_after_s: int = 24 * 3600  # in a row, with no delivery for at least this long
    outbound_secret_overlap_s: int = 24 * 3600  # after a rotation, the old secret also signs this long
    outbound_log_retention_s: int = 30 * 24 * 3600  # delivered and failed attempts are kept (and listed) this long
    outbound_poll_s: float = 1.0  # how often the dispatcher looks for due attempts when it found none
    outbound_subscription_cache_s: float = 2.0  # the outbound group's per-tenant copy of the subscriptions
    # --- the platform's own billing (connectors/usage_push.py) ---
    # the Lago connector (of the operator's tenant) that every billed tenant's usage is pushed to; empty: no push
    billing_connector: str = ""
    usage_push_interval_s: int = 3600  # how often the `usage-push` schedule pushes the closed days not yet sent

    # a sync step (one Temporal activity) reads pages, each published and then checkpointed, for this long: one
    # activity round trip, connector row and Vault read per step rather than per page (docs/benchmarks.md)
    sync_step_s: float = 10.0

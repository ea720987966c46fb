"""The gateway's settings. Field names match bizosaas.settings.Settings, which fills them from the environment."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from events.streams import DEDUPE_WINDOW_S, DEFAULT_PARTITIONS
from rag.config import RagConfig


@dataclass(frozen=True)
class GatewayConfig:
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://bizosaas_app:bizosaas_app@127.0.0.1:5432/bizosaas"
    # operator replays read the archive as a read-only role; the gateway holds no owner DSN
    database_readonly_url: str = "postgresql://bizosaas_readonly:bizosaas_readonly@127.0.0.1:5432/bizosaas"
    admin_token: str = ""
    partitions: int = DEFAULT_PARTITIONS
    dedupe_window_s: int = DEDUPE_WINDOW_S
    db_pool_size: int = 10
    vault_addr: str = "http://127.0.0.1:8200"
    vault_token: str = ""
    vault_mount: str = "secret"
    vault_prefix: str = "bizosaas"
    secret_cache_s: float = 30.0
    webhook_secret_grace_s: int = 24 * 3600
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_rate_per_s: float = 500.0
    webhook_burst: int = 5000
    webhook_failed_rate_per_s: float = 5.0
    webhook_failed_burst: int = 100
    rejected_log_max: int = 1000
    body_timeout_s: float = 30.0
    tenant_rate_per_s: float = 50.0
    tenant_burst: int = 200
    key_rate_per_s: float = 20.0
    key_burst: int = 100
    public_url: str = ""
    oidc_jwks_url: str = ""
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_tenant_claim: str = "bizosaas_tenant"
    oidc_role_claim: str = "bizosaas_role"
    oidc_operator_claim: str = "bizosaas_operator"
    jwks_cache_s: float = 3600.0
    auth_cache_s: float = 5.0
    auth_failure_rate_per_s: float = 1.0
    auth_failure_burst: int = 30
    tenant_max_connectors: int = 50
    tenant_max_knowledge_bytes: int = 1024 * 1024 * 1024
    publish_batch_ms: float = 1.0
    list_max_bytes: int = 1024 * 1024
    rag: RagConfig = RagConfig()  # search: the query embedder, HNSW settings, knowledge upload limit

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> GatewayConfig:
        """Take every field of the same name from a settings object (bizosaas.settings.Settings)."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        return cls(**{**values, **overrides})

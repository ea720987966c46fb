"""Every setting, read from the environment in one place, each with a safe development default."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from events.streams import DEDUPE_WINDOW_S, DEFAULT_PARTITIONS
from rag.config import RagConfig


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://bizosaas_app:bizosaas_app@127.0.0.1:5432/bizosaas"  # service role
    database_admin_url: str = "postgresql://postgres@127.0.0.1:5432/bizosaas"  # owner, for migrate and operators
    # operator replays over HTTP read event_log as this role (SELECT on event_log only); migrate creates it
    database_readonly_url: str = "postgresql://bizosaas_readonly:bizosaas_readonly@127.0.0.1:5432/bizosaas"
    admin_token: str = ""  # platform operator bearer token (BIZOSAAS_ADMIN_TOKEN)
    host: str = "127.0.0.1"
    port: int = 8001
    partitions: int = DEFAULT_PARTITIONS
    dedupe_window_s: int = DEDUPE_WINDOW_S
    batch_size: int = 500
    block_ms: int = 1000
    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 5
    stale_consumer_idle_ms: int = 600_000  # a group's consumer idle this long with nothing pending is removed
    batch_max_bytes: int = 8 * 1024 * 1024  # a worker's batch stops growing past this many bytes of events
    stream_retention_s: int = 24 * 3600
    trim_interval_s: float = 30.0
    metrics_port: int = 9101  # each worker process serves /metrics here; 0 picks a free port
    metrics_host: str = "127.0.0.1"  # the address a worker's /metrics binds (0.0.0.0 in a container)
    db_pool_size: int = 10
    # --- gateway (gateway.config.GatewayConfig takes these by name) ---
    vault_addr: str = "http://127.0.0.1:8200"
    vault_token: str = ""
    vault_mount: str = "secret"  # a KV v2 mount
    vault_prefix: str = "bizosaas"  # secrets live at <prefix>/tenants/<tenant>/connectors/<connector>
    secret_cache_s: float = 30.0
    webhook_secret_grace_s: int = 24 * 3600  # a rotated-out webhook secret stays valid this long
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_rate_per_s: float = 500.0  # per-connector abuse limit (generous: providers disable failing endpoints)
    webhook_burst: int = 5000
    # requests to a webhook URL that fail (bad signature, size, encoding) are charged here, never to the limit above
    webhook_failed_rate_per_s: float = 5.0
    webhook_failed_burst: int = 100
    rejected_log_max: int = 1000  # refused webhook requests kept per tenant (GET /v1/deliveries?outcome=rejected)
    body_timeout_s: float = 30.0  # a request body must arrive within this long, else 408
    tenant_rate_per_s: float = 50.0
    tenant_burst: int = 200
    key_rate_per_s: float = 20.0  # per API key or JWT subject
    key_burst: int = 100
    public_url: str = ""  # base of the webhook URLs given to providers; default: the request's own origin
    oidc_jwks_url: str = ""  # empty: JWT bearer tokens are refused
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_tenant_claim: str = "bizosaas_tenant"
    oidc_role_claim: str = "bizosaas_role"
    oidc_operator_claim: str = "bizosaas_operator"  # a JWT with this claim set to true is a platform operator
    jwks_cache_s: float = 3600.0
    auth_cache_s: float = 5.0  # API key lookups are cached this long (a revocation elsewhere takes that long)
    # failed authentications per client address (after the burst: 429 for that address until the rate refills)
    auth_failure_rate_per_s: float = 1.0
    auth_failure_burst: int = 30
    tenant_max_connectors: int = 50  # connector instances per tenant (409 quota-exceeded past it)
    tenant_max_knowledge_bytes: int = 1024 * 1024 * 1024  # uploaded knowledge documents' bytes per tenant
    publish_batch_ms: float = 1.0  # webhook publishes of concurrent requests are collected this long
    list_max_bytes: int = 1024 * 1024  # entity data per page of GET /v1/records/{kind} (at least one record)
    # --- the platform around the services ---
    temporal_address: str = "127.0.0.1:7233"  # host:port of Temporal's frontend (gRPC)
    data_dir: str = ".bizosaas"  # bizosaas dev: local servers' data and logs
    redis_maxmemory: str = "1gb"  # bizosaas dev: its local Redis refuses writes past this (compose sets its own)
    # --- RAG (rag.config.RagConfig takes these by name) ---
    rag_embedder: str = "auto"  # auto: OpenAI when OPENAI_API_KEY is set, else the local model; or local / openai
    rag_local_model_dir: str = RagConfig.rag_local_model_dir
    openai_api_key: str = ""
    openai_base_url: str = ""
    rag_openai_model: str = "text-embedding-3-small"
    rag_openai_dimensions: int = 1536
    rag_chunk_tokens: int = 200
    rag_chunk_overlap_tokens: int = 32
    rag_embed_batch: int = 64
    rag_candidates: int = 40
    rag_ef_search: int = 100
    rag_max_scan_tuples: int = 20_000
    rag_knowledge_max_bytes: int = 5 * 1024 * 1024
    rag_parse_timeout_s: float = RagConfig.rag_parse_timeout_s
    rag_parse_workers: int = RagConfig.rag_parse_workers
    rag_max_pages: int = RagConfig.rag_max_pages
    rag_max_text_chars: int = RagConfig.rag_max_text_chars

    @property
    def rag(self) -> RagConfig:
        return RagConfig.from_settings(self)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = env_name(f.name)
            if name in env and env[name] != "":
                raw = env[name]
                try:
                    values[f.name] = type(f.default)(raw)
                except ValueError:
                    raise SystemExit(f"{name}={raw!r} is not a valid {type(f.default).__name__}") from None
        return cls(**values)


# settings whose variable names are part of the stable surface (DESIGN.md) rather than BIZOSAAS_<NAME>
ENV_NAMES = {
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "database_admin_url": "DATABASE_ADMIN_URL",
    "admin_token": "BIZOSAAS_ADMIN_TOKEN",
    "port": "BIZOSAAS_PORT",
    "vault_addr": "VAULT_ADDR",
    "vault_token": "VAULT_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
    "temporal_address": "TEMPORAL_ADDRESS",
}


MIN_TOKEN_CHARS = 32


def refuse_unsafe(settings: Settings) -> None:
    """Checked when a service starts: placeholder secrets (.env.example's `change-me…`), a short operator token, or
    JWTs enabled without the issuer they must carry. Development defaults (empty tokens, local URLs) pass."""
    problems = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, str) and ("change-me" in value):
            problems.append(
                f"{env_name(f.name)} still holds a placeholder (`change-me…`): set a real secret, "
                "e.g. `openssl rand -hex 32`"
            )
    if settings.admin_token and len(settings.admin_token) < MIN_TOKEN_CHARS:
        problems.append(
            f"BIZOSAAS_ADMIN_TOKEN is shorter than {MIN_TOKEN_CHARS} characters: "
            "use e.g. `openssl rand -hex 32`, or leave it empty to disable the operator routes"
        )
    if settings.oidc_jwks_url and not settings.oidc_issuer:
        problems.append(
            "BIZOSAAS_OIDC_ISSUER must be set when BIZOSAAS_OIDC_JWKS_URL is (JWTs are enabled): "
            "set it to the `iss` your tokens carry"
        )
    if problems:
        raise SystemExit("refusing to start:\n  " + "\n  ".join(problems))


def env_name(field_name: str) -> str:
    return ENV_NAMES.get(field_name, "BIZOSAAS_" + field_name.upper())

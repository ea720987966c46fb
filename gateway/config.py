"""The gateway's settings: each field's default is written here and nowhere else.

`bizosaas.settings.Settings` is a GatewayConfig (and a RuntimeConfig) filled from the environment; `init(settings)`
takes it as it is. The gateway also serves search, manages connectors and shows the agents' budgets, so it is a
RagConfig, a ConnectorsConfig and an AgentsConfig too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.config import AgentsConfig
from connectors.config import ConnectorsConfig
from events.streams import DEDUPE_WINDOW_S, DEFAULT_PARTITIONS
from rag.config import RagConfig


@dataclass(frozen=True, kw_only=True)
class GatewayConfig(RagConfig, ConnectorsConfig, AgentsConfig):
    # --- servers (DSNs may hold passwords: kept out of repr) ---
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    database_url: str = field(  # the services' role: row-level security applies
        default="postgresql://bizosaas_app:bizosaas_app@127.0.0.1:5432/bizosaas", repr=False
    )
    # operator replays read the archive as a read-only role (SELECT on event_log only); the gateway holds no owner DSN
    database_readonly_url: str = field(
        default="postgresql://bizosaas_readonly:bizosaas_readonly@127.0.0.1:5432/bizosaas", repr=False
    )
    db_pool_size: int = 10  # asyncpg pool size per process
    # host:port of Temporal's frontend (gRPC): workers start workflows there, the console's health page probes it
    temporal_address: str = "127.0.0.1:7233"
    partitions: int = DEFAULT_PARTITIONS
    dedupe_window_s: int = DEDUPE_WINDOW_S
    admin_token: str = field(default="", repr=False)  # platform operator bearer token (BIZOSAAS_ADMIN_TOKEN)
    # --- webhooks ---
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_rate_per_s: float = 500.0  # per-connector abuse limit (generous: providers disable failing endpoints)
    webhook_burst: int = 5000
    # requests to a webhook URL that fail (bad signature, size, encoding) are charged here, never to the limit above
    webhook_failed_rate_per_s: float = 5.0
    webhook_failed_burst: int = 100
    rejected_log_max: int = 1000  # refused webhook requests kept per tenant (GET /v1/deliveries?outcome=rejected)
    body_timeout_s: float = 30.0  # a request body must arrive within this long, else 408
    publish_batch_ms: float = 1.0  # webhook publishes of concurrent requests are collected this long
    # --- API limits and quotas ---
    tenant_rate_per_s: float = 50.0
    tenant_burst: int = 200
    key_rate_per_s: float = 20.0  # per API key or JWT subject
    key_burst: int = 100
    tenant_max_connectors: int = 50  # connector instances per tenant (409 quota-exceeded past it)
    tenant_max_knowledge_bytes: int = 1024 * 1024 * 1024  # uploaded knowledge documents' bytes per tenant
    list_max_bytes: int = 1024 * 1024  # entity data per page of GET /v1/records/{kind} (at least one record)
    # --- authentication ---
    oidc_jwks_url: str = ""  # empty: JWT bearer tokens are refused
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_tenant_claim: str = "bizosaas_tenant"
    oidc_role_claim: str = "bizosaas_role"
    oidc_operator_claim: str = "bizosaas_operator"  # a JWT with this claim set to true is a platform operator
    jwks_cache_s: float = 3600.0
    # portal sign-in by OIDC (authorization code + PKCE); on when these three and the JWKS URL and issuer are set.
    # The ID token's audience is the client id; tenant, role and operator come from the claims named above.
    oidc_authorization_url: str = ""  # the issuer's authorization endpoint (Authentik: .../application/o/authorize/)
    oidc_token_url: str = ""  # its token endpoint (Authentik: .../application/o/token/)
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)  # empty: a public client (PKCE alone)
    oidc_scopes: str = "openid profile email"
    auth_cache_s: float = 5.0  # API key lookups are cached this long (a revocation reaches every process at once)
    # failed authentications per client address (after the burst: 429 for that address until the rate refills)
    auth_failure_rate_per_s: float = 1.0
    auth_failure_burst: int = 30
    # --- portal and console sessions (gateway/portal/) ---
    # sign in to /portal/ with an API key: for development only (`bizosaas dev` turns it on); production uses OIDC
    portal_key_signin: bool = False
    portal_session_s: int = 8 * 3600  # a session ends this long after sign-in (sign-out or revocation end it sooner)

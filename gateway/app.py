"""The gateway application: `init(config) -> web.Application`, resources opened and closed in cleanup contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from connectors.credentials import VaultSecrets
from db.pool import create_pool
from gateway import (
    portal,
    routes_admin,
    routes_agent_runs,
    routes_agents,
    routes_chat,
    routes_commands,
    routes_connectors,
    routes_deliveries,
    routes_hook_attempts,
    routes_hooks,
    routes_knowledge,
    routes_oauth,
    routes_providers,
    routes_records,
    routes_search,
    routes_service,
    routes_syncs,
    routes_tenants,
    routes_webhooks,
)
from gateway.archive import ArchiveReader
from gateway.auth import Authenticator, OidcClaims
from gateway.batcher import WebhookBatcher
from gateway.config import GatewayConfig
from gateway.invalidation import Invalidator, listening
from gateway.jwks import JwksVerifier
from gateway.middleware import authorize, observe
from gateway.ratelimit import LocalLimiter, RateLimiter
from gateway.state import (
    ARCHIVE,
    AUTH,
    BATCHER,
    CONFIG,
    HOOK_SECRETS,
    HTTP,
    INVALIDATOR,
    LIMITER,
    POOL,
    PUBLISHER,
    REDIS,
    ROUTE_SPECS,
    SECRETS,
    TARGETS,
    WEBHOOK_FAILURE_LIMITER,
    WEBHOOK_LIMITER,
)
from gateway.targets import Targets
from producers.publisher import Publisher

ROUTE_MODULES = (
    routes_service,
    routes_tenants,
    routes_connectors,
    routes_syncs,
    routes_providers,
    routes_oauth,
    routes_records,
    routes_webhooks,
    routes_deliveries,
    routes_hook_attempts,  # before routes_hooks: /v1/hooks/sample is not a hook id
    routes_hooks,
    routes_commands,
    routes_agent_runs,
    routes_admin,
    routes_search,
    routes_agents,
    routes_chat,
    routes_knowledge,
)


async def _redis(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    app[REDIS] = redis = Redis.from_url(config.redis_url)
    app[LIMITER] = RateLimiter(redis)
    app[PUBLISHER] = publisher = Publisher(redis, config.partitions, config.dedupe_window_s)
    app[BATCHER] = batcher = WebhookBatcher(publisher, redis, window_s=config.publish_batch_ms / 1000)
    yield
    await batcher.close()
    await redis.aclose()


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    app[POOL] = pool = await create_pool(config.database_url, max_size=config.db_pool_size)
    app[TARGETS] = Targets(pool)
    app[ARCHIVE] = archive = ArchiveReader(config.database_readonly_url)
    yield
    await pool.close()
    await archive.close()


async def _clients(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    # every person's sign-in code is exchanged through this session: it keeps no cookie, which would go with another's
    app[HTTP] = session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    app[SECRETS] = VaultSecrets(
        config.vault_addr, config.vault_token, config.vault_mount, config.vault_prefix, config.secret_cache_s
    )
    app[HOOK_SECRETS] = VaultSecrets(
        config.vault_addr,
        config.vault_token,
        config.vault_mount,
        config.vault_prefix,
        config.secret_cache_s,
        collection="hooks",
    )
    jwks = None
    if config.oidc_jwks_url:
        jwks = JwksVerifier(
            session, config.oidc_jwks_url, config.oidc_issuer, config.oidc_audience, config.jwks_cache_s
        )
    claims = OidcClaims(config.oidc_tenant_claim, config.oidc_role_claim, config.oidc_operator_claim)
    app[AUTH] = Authenticator(
        app[POOL],
        config.admin_token,
        jwks,
        claims,
        cache_s=config.auth_cache_s,
        failures=LocalLimiter(config.auth_failure_rate_per_s, config.auth_failure_burst),
    )
    app[INVALIDATOR] = invalidator = Invalidator(app[REDIS], app[AUTH], app[TARGETS], app[SECRETS])
    async with listening(invalidator):
        yield
    await session.close()


def init(config: GatewayConfig) -> web.Application:
    # a request line up to 64 KiB: every query parameter the OpenAPI document allows must fit, percent-encoded
    # (aiohttp's default of 8 KiB refuses them with a plain-text 400 before any middleware runs). No automatic
    # decompression: bodies are decoded by gateway/body.py under their size cap (a webhook's signature covers the
    # decoded bytes, and a compressed body must not slip past the cap)
    app = web.Application(
        middlewares=[observe, authorize], handler_args={"max_line_size": 65536, "auto_decompress": False}
    )
    app[CONFIG] = config
    app[WEBHOOK_LIMITER] = LocalLimiter(config.webhook_rate_per_s, config.webhook_burst)
    app[WEBHOOK_FAILURE_LIMITER] = LocalLimiter(config.webhook_failed_rate_per_s, config.webhook_failed_burst)
    app[ROUTE_SPECS] = specs = [spec for module in ROUTE_MODULES for spec in module.routes.specs]
    for spec in specs:
        app.router.add_route(spec.method, spec.path, spec.handler)
    app.cleanup_ctx.extend(
        [
            _redis,
            _postgres,
            _clients,
            routes_search.searcher_ctx,
            routes_knowledge.converter_ctx,
            routes_chat.personal_agent_ctx,
        ]
    )
    portal.setup(app)  # the pages under /portal/ and /console/ (no route spec: the bearer middleware skips them)
    return app

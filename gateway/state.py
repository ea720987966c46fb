"""Typed keys of what the application holds (opened and closed in app.py's cleanup contexts) and of what a request
carries through the middlewares."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from connectors.credentials import SecretStore
from gateway.archive import ArchiveReader
from gateway.auth import Authenticator
from gateway.batcher import WebhookBatcher
from gateway.config import GatewayConfig
from gateway.invalidation import Invalidator
from gateway.ratelimit import LocalLimiter, RateLimiter
from gateway.roles import Principal
from gateway.targets import Targets
from producers.publisher import Publisher

CONFIG = web.AppKey("config", GatewayConfig)
REDIS = web.AppKey("redis", Redis)
POOL = web.AppKey("pool", asyncpg.Pool)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SECRETS = web.AppKey("secrets", SecretStore)
HOOK_SECRETS = web.AppKey("hook_secrets", SecretStore)  # outbound webhooks' signing secrets
AUTH = web.AppKey("auth", Authenticator)
LIMITER = web.AppKey("limiter", RateLimiter)
WEBHOOK_LIMITER = web.AppKey("webhook_limiter", LocalLimiter)
WEBHOOK_FAILURE_LIMITER = web.AppKey("webhook_failure_limiter", LocalLimiter)  # refused webhook requests only
PUBLISHER = web.AppKey("publisher", Publisher)
BATCHER = web.AppKey("batcher", WebhookBatcher)
ROUTE_SPECS = web.AppKey("route_specs", list)
TARGETS = web.AppKey("targets", Targets)
INVALIDATOR = web.AppKey("invalidator", Invalidator)  # revoked keys and changed connectors, to every process
ARCHIVE = web.AppKey("archive", ArchiveReader)  # the read-only role's pool: operator replays only

PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
LOG_TENANT = web.RequestKey("log_tenant", str)  # for the request log: the tenant, also on unauthenticated webhooks
LOG_CONNECTOR = web.RequestKey("log_connector", str)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def tenant_of(request: web.Request) -> str:
    tenant = request[PRINCIPAL].tenant_id
    assert tenant is not None  # the permission check admits only principals with a tenant to tenant routes
    return tenant

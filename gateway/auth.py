"""Bearer authentication: per-tenant API keys (stored as sha256 hashes), OIDC JWTs and the operator token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import asyncpg

from gateway.jwks import JwksVerifier, TokenError
from gateway.problems import ProblemError
from gateway.roles import ROLES, Principal

KEY_PREFIX = "bz_"
SHOWN_PREFIX_LEN = len(KEY_PREFIX) + 8  # "bz_" + 8 characters identify a key in lists


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once, never stored
    prefix: str
    hash: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewKey:
    key = KEY_PREFIX + secrets.token_hex(4) + "_" + secrets.token_urlsafe(32)
    return NewKey(key, key[:SHOWN_PREFIX_LEN], hash_key(key))


@dataclass(frozen=True)
class OidcClaims:
    tenant: str
    role: str
    operator: str


class Authenticator:
    def __init__(self, pool: asyncpg.Pool, admin_token: str, jwks: JwksVerifier | None, claims: OidcClaims,
                 cache_s: float = 5.0, cache_size: int = 10_000) -> None:
        self.pool, self.admin_token, self.jwks, self.claims = pool, admin_token, jwks, claims
        self.cache_s, self.cache_size = cache_s, cache_size
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ProblemError("unauthenticated", "send Authorization: Bearer <api key or JWT>",
                               headers={"WWW-Authenticate": 'Bearer realm="bizosaas"'})
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin-token", None, None, operator=True, via="admin_token")
        if token.startswith(KEY_PREFIX):
            principal = await self._api_key(token)
        elif token.count(".") == 2 and self.jwks is not None:
            principal = await self._jwt(token)
        else:
            principal = None
        if principal is None:
            raise ProblemError("unauthenticated", "the bearer token is not valid",
                               headers={"WWW-Authenticate": 'Bearer realm="bizosaas", error="invalid_token"'})
        return principal

    async def _api_key(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self.pool.fetchrow("SELECT tenant_id, key_id, role FROM api_key_lookup($1)", digest)
        principal = Principal(row["key_id"], row["tenant_id"], row["role"]) if row else None
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_s, principal)
        return principal

    def forget(self, key_hash: str) -> None:
        """Drop a revoked key from this process's cache at once (other processes: within cache_s)."""
        self._cache.pop(key_hash, None)

    async def _jwt(self, token: str) -> Principal | None:
        try:
            claims = await self.jwks.verify(token)  # type: ignore[union-attr]
        except TokenError:
            return None
        operator = claims.get(self.claims.operator) is True
        tenant = claims.get(self.claims.tenant)
        role = claims.get(self.claims.role)
        if not isinstance(tenant, str) or not tenant or role not in ROLES:
            tenant, role = None, None
        if tenant is None and not operator:
            return None
        return Principal(str(claims["sub"]), tenant, role, operator=operator, via="jwt")

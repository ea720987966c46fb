"""Bearer authentication: per-tenant API keys (stored as sha256 hashes), OIDC JWTs and the operator token."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg

from connectors.lru import MISSING, ExpiringLru
from gateway.jwks import JwksVerifier, TokenError
from gateway.problems import ProblemError
from gateway.ratelimit import LocalLimiter, retry_after
from gateway.roles import ROLES, Principal

KEY_PREFIX = "bz_"
SHOWN_PREFIX_LEN = len(KEY_PREFIX) + 8  # "bz_" + 8 characters identify a key in lists
# what new_api_key makes: anything else is refused without a Postgres lookup (or a cache entry)
KEY_FORMAT = re.compile(r"bz_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


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
    def __init__(
        self,
        pool: asyncpg.Pool,
        admin_token: str,
        jwks: JwksVerifier | None,
        claims: OidcClaims,
        cache_s: float = 5.0,
        cache_size: int = 10_000,
        failures: LocalLimiter | None = None,
    ) -> None:
        self.failures = failures or LocalLimiter(1.0, 30)  # failed attempts per client address
        self.pool, self.admin_token, self.jwks, self.claims = pool, admin_token, jwks, claims
        self.cache_s, self.cache_size = cache_s, cache_size
        self._cache: ExpiringLru[Principal | None] = ExpiringLru(cache_size)

    async def authenticate(self, authorization: str | None, client: str = "") -> Principal:
        """The caller, or 401; a client address that failed too often lately gets 429 before any lookup."""
        wait_s = self.failures.waiting(client)
        if wait_s > 0:
            raise ProblemError(
                "rate-limited",
                "too many failed authentications from this address",
                headers={"Retry-After": retry_after(wait_s)},
            )
        try:
            return await self._authenticate(authorization)
        except ProblemError:
            self.failures.check(client)  # charged only on failure: valid callers never spend this allowance
            raise

    async def _authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ProblemError(
                "unauthenticated",
                "send Authorization: Bearer <api key or JWT>",
                headers={"WWW-Authenticate": 'Bearer realm="bizosaas"'},
            )
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin-token", None, None, operator=True, via="admin_token")
        if token.startswith(KEY_PREFIX):
            principal = await self._api_key(token)
        elif token.count(".") == 2 and self.jwks is not None:
            principal = await self._jwt(token)
        else:
            principal = None
        if principal is None:
            raise ProblemError(
                "unauthenticated",
                "the bearer token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="bizosaas", error="invalid_token"'},
            )
        return principal

    async def _api_key(self, key: str) -> Principal | None:
        if not KEY_FORMAT.fullmatch(key):
            return None
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        principal = await self.key_by_hash(digest)
        self._cache.put(digest, principal, self.cache_s)
        return principal

    async def key_by_hash(self, digest: str) -> Principal | None:
        """The key's principal, read now (no cache): None once it is revoked. Portal sessions ask on every request,
        so a revocation ends them at once in every process."""
        row = await self.pool.fetchrow("SELECT tenant_id, key_id, role FROM api_key_lookup($1)", digest)
        return Principal(row["key_id"], row["tenant_id"], row["role"]) if row else None

    def forget(self, key_hash: str) -> None:
        """Drop a revoked key from this process's cache (gateway/invalidation.py tells every other process)."""
        self._cache.pop(key_hash, None)

    def forget_all(self) -> None:
        self._cache.clear()

    async def _jwt(self, token: str) -> Principal | None:
        try:
            claims = await self.jwks.verify(token)  # type: ignore[union-attr]
        except TokenError:
            return None
        return self.from_claims(claims)

    def from_claims(self, claims: dict) -> Principal | None:
        """A verified token's caller (a bearer JWT, or the portal's OIDC ID token): None without tenant or operator."""
        operator = claims.get(self.claims.operator) is True
        tenant = claims.get(self.claims.tenant)
        role = claims.get(self.claims.role)
        if not isinstance(tenant, str) or not tenant or role not in ROLES:
            tenant, role = None, None
        if tenant is None and not operator:
            return None
        return Principal(str(claims["sub"]), tenant, role, operator=operator, via="jwt")

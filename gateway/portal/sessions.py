"""Server-side sessions of the portal and the console, in Redis.

The cookie carries a random id (256 bits); Redis keeps, under the sha256 of that id, who signed in, with which
credential (the sha256 of the API key or of the operator token) and the session's CSRF token. A session is made new at
every sign-in (so its id rotates), deleted at sign-out, and expires by itself `portal_session_s` after sign-in. The
credential is checked again on every request (gateway/portal/web.py), so a revoked key ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets

import msgspec
from redis.asyncio import Redis

from events.streams import SESSION_KEY
from gateway.roles import Principal


class Session(msgspec.Struct, frozen=True):
    id: str  # the cookie's value: never stored (Redis holds its hash)
    csrf: str  # the per-session token every form carries
    via: str  # api_key | admin_token | oidc
    credential: str  # sha256 of the key or token signed in with; for oidc, of the subject
    tenant_id: str | None = None  # the key's tenant when it signed in (a key never changes tenant)
    # oidc only: what the ID token said (no credential to look up again; the session's lifetime bounds it)
    subject: str = ""
    role: str | None = None
    operator: bool = False
    membership: bool = False  # oidc: the tenant and role come from `memberships`, read again on every request


class _Stored(msgspec.Struct, frozen=True):
    csrf: str
    via: str
    credential: str
    tenant_id: str | None = None
    subject: str = ""
    role: str | None = None
    operator: bool = False
    membership: bool = False


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(session_id: str) -> str:
    return SESSION_KEY % digest(session_id)


class SessionStore:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis, self.ttl_s = redis, ttl_s

    async def start(self, via: str, credential: str, principal: Principal, membership: bool = False) -> Session:
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        stored = _Stored(
            csrf=csrf,
            via=via,
            credential=credential,
            tenant_id=principal.tenant_id,
            subject=principal.subject,
            role=principal.role,
            operator=principal.operator,
            membership=membership,
        )
        await self.redis.set(_key(session_id), msgspec.json.encode(stored), ex=self.ttl_s)
        return Session(id=session_id, **msgspec.structs.asdict(stored))

    async def load(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.redis.get(_key(session_id))
        if raw is None:
            return None
        stored = msgspec.json.decode(raw, type=_Stored)
        return Session(id=session_id, **msgspec.structs.asdict(stored))

    async def end(self, session_id: str) -> None:
        await self.redis.delete(_key(session_id))

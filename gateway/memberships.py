"""People of a tenant: memberships (an OIDC subject's tenant and role), one-time invites, and the tenant a person
creates at onboarding. Tables of migration 0029 under row-level security; the two look-ups that must cross tenants
before one is known (a subject's memberships at sign-in, an invite by its token) are the owner's SECURITY DEFINER
functions `membership_lookup` and `invite_lookup`, which answer nothing else. Every change is audited in its own
transaction (db/audit.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.audit import record_audit
from db.pool import tenant_transaction
from events.ids import new_id
from gateway.problems import ProblemError
from gateway.roles import Principal
from gateway.tenancy import new_tenant_id

INVITE_S = 7 * 24 * 3600  # an invite link works this long, once
INVITE_PREFIX = "bzi_"


@dataclass(frozen=True)
class Member:
    subject: str
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Invite:
    id: str
    role: str
    note: str
    created_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class InviteTarget:
    tenant_id: str
    invite_id: str
    role: str
    tenant_name: str


def actor_of(principal: Principal) -> str:
    """Who did it, for the audit log: how they signed in and their subject (never a credential)."""
    return f"{principal.via}:{principal.subject}"


def invite_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def memberships_of(pool: asyncpg.Pool, subject: str) -> list[tuple[str, str]]:
    """(tenant, role) of every membership of the subject, the oldest first (sign-in takes the first)."""
    rows = await pool.fetch("SELECT tenant_id, role FROM membership_lookup($1)", subject)
    return [(r["tenant_id"], r["role"]) for r in rows]


async def member_role(pool: asyncpg.Pool, tenant_id: str, subject: str) -> str | None:
    async with tenant_transaction(pool, tenant_id) as conn:
        return await conn.fetchval("SELECT role FROM memberships WHERE subject = $1", subject)


async def create_own_tenant(pool: asyncpg.Pool, name: str, subject: str, person: str) -> str:
    """A tenant made by a signed-in person with none (onboarding's first step): they become its admin. No API key
    is made (the person signs in by OIDC; they can make keys on /portal/keys)."""
    tenant_id = new_tenant_id()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, name)
        await conn.execute(
            "INSERT INTO memberships (tenant_id, subject, name, role) VALUES ($1, $2, $3, 'admin')",
            tenant_id,
            subject,
            person,
        )
        await conn.execute("INSERT INTO tenant_profiles (tenant_id) VALUES ($1)", tenant_id)
        await record_audit(conn, tenant_id, f"jwt:{subject}", "tenant.created", tenant_id, {"name": name})
    return tenant_id


async def members(pool: asyncpg.Pool, tenant_id: str) -> list[Member]:
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch("SELECT subject, name, role, created_at FROM memberships ORDER BY created_at, subject")
    return [Member(**r) for r in rows]


async def change_role(pool: asyncpg.Pool, tenant_id: str, actor: str, subject: str, role: str | None) -> None:
    """Give a member another role, or remove them (role None). The tenant keeps at least one admin member."""
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch("SELECT subject, role FROM memberships ORDER BY subject FOR UPDATE")
        roles = {r["subject"]: r["role"] for r in rows}
        if subject not in roles:
            raise ProblemError("not-found", "no such member")
        before = roles[subject]
        if role is None:
            del roles[subject]
        else:
            roles[subject] = role
        if before == "admin" and "admin" not in roles.values():
            raise ProblemError("conflict", "the tenant needs at least one admin: make someone else admin first")
        if role is None:
            await conn.execute("DELETE FROM memberships WHERE subject = $1", subject)
            await record_audit(conn, tenant_id, actor, "member.removed", subject, {"role": before})
        elif role != before:
            await conn.execute("UPDATE memberships SET role = $2, updated_at = now() WHERE subject = $1", subject, role)
            await record_audit(conn, tenant_id, actor, "member.role_changed", subject, {"from": before, "to": role})


async def create_invite(pool: asyncpg.Pool, tenant_id: str, actor: str, role: str, note: str) -> str:
    """A one-time invite; returns its token (for the link, shown once: only its hash is stored)."""
    token = INVITE_PREFIX + secrets.token_urlsafe(32)
    invite_id = "inv_" + new_id().lower()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            "INSERT INTO invites (tenant_id, id, hash, role, note, created_by, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
            tenant_id,
            invite_id,
            invite_hash(token),
            role,
            note,
            actor,
            INVITE_S,
        )
        await record_audit(conn, tenant_id, actor, "invite.created", invite_id, {"role": role, "note": note})
    return token


async def open_invites(pool: asyncpg.Pool, tenant_id: str) -> list[Invite]:
    async with tenant_transaction(pool, tenant_id) as conn:
        rows = await conn.fetch(
            "SELECT id, role, note, created_by, created_at, expires_at FROM invites "
            "WHERE accepted_at IS NULL AND expires_at > now() ORDER BY created_at DESC, id DESC"
        )
    return [Invite(**r) for r in rows]


async def cancel_invite(pool: asyncpg.Pool, tenant_id: str, actor: str, invite_id: str) -> None:
    async with tenant_transaction(pool, tenant_id) as conn:
        done = await conn.fetchval(
            "UPDATE invites SET expires_at = now() WHERE id = $1 AND accepted_at IS NULL AND expires_at > now() "
            "RETURNING id",
            invite_id,
        )
        if done is None:
            raise ProblemError("not-found", "no such open invite")
        await record_audit(conn, tenant_id, actor, "invite.cancelled", invite_id)


async def find_invite(pool: asyncpg.Pool, token: str) -> InviteTarget | None:
    if not token.startswith(INVITE_PREFIX) or len(token) > 100:
        return None
    row = await pool.fetchrow("SELECT * FROM invite_lookup($1)", invite_hash(token))
    return InviteTarget(**row) if row else None


async def accept_invite(pool: asyncpg.Pool, token: str, subject: str, person: str) -> tuple[str, str] | None:
    """Use the invite once: the subject becomes a member with its role (a member already keeps their role).
    Returns (tenant, role in effect), or None when the invite is unknown, used or expired."""
    target = await find_invite(pool, token)
    if target is None:
        return None
    async with tenant_transaction(pool, target.tenant_id) as conn:
        used = await conn.fetchval(
            "UPDATE invites SET accepted_at = now(), accepted_by = $2 "
            "WHERE id = $1 AND accepted_at IS NULL AND expires_at > now() RETURNING role",
            target.invite_id,
            subject,
        )
        if used is None:  # another browser used it a moment ago
            return None
        role = await conn.fetchval(
            "INSERT INTO memberships (tenant_id, subject, name, role) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (tenant_id, subject) DO UPDATE SET name = EXCLUDED.name RETURNING role",
            target.tenant_id,
            subject,
            person,
            used,
        )
        await record_audit(
            conn, target.tenant_id, f"jwt:{subject}", "invite.accepted", target.invite_id, {"role": role}
        )
    return target.tenant_id, role

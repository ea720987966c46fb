"""The tenant's audit log (table audit_log, migration 0029, under row-level security): who approved what, made or
revoked which key, changed whose role. Written in the transaction of the change it records, so an entry exists
exactly when the change does; read by the tenant's admins (/portal/audit).

Call `record_audit` with the connection of a tenant transaction (db/pool.py `tenant_transaction`), e.g. where an
agent run's action is approved: `await record_audit(conn, tenant, actor, "agent_run.approved", run_id)`. `actor`
says how the caller signed in and who (`actor_of` in gateway/memberships.py makes it from a principal). Never put a
secret in `detail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

AUDIT_PAGE = 100


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


async def record_audit(
    conn: asyncpg.Connection,
    tenant_id: str,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5::jsonb)",
        tenant_id,
        actor,
        action,
        target,
        msgspec.json.encode(detail or {}).decode(),
    )


async def audit_entries(
    conn: asyncpg.Connection, before: int | None = None, limit: int = AUDIT_PAGE
) -> list[AuditEntry]:
    """The tenant's entries, newest first, older than the entry `before` (paging)."""
    rows = await conn.fetch(
        "SELECT id, at, actor, action, target, detail::text AS detail FROM audit_log "
        "WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        before,
        limit,
    )
    return [AuditEntry(**{**r, "detail": msgspec.json.decode(r["detail"])}) for r in rows]

"""Who may do what: the permission table (docs/gateway.md prints it) and the check every route goes through.

Tenant roles: admin (everything in the tenant, API keys and the agents' settings included), manager (connectors,
commands, deliveries), user (reads). The platform operator (BIZOSAAS_ADMIN_TOKEN or a JWT with the operator claim)
is not a tenant role: it may create tenants and use /v1/admin/*, which span tenants, and nothing inside a tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "manager", "user")
PUBLIC = "public"  # no bearer token (health, metrics, the OpenAPI document; webhooks are authenticated by signature)
OPERATOR = "operator"

# permission -> the tenant roles that hold it
PERMISSIONS: dict[str, frozenset[str]] = {
    "records:read": frozenset({"admin", "manager", "user"}),
    "connectors:read": frozenset({"admin", "manager", "user"}),
    "connectors:write": frozenset({"admin", "manager"}),
    "commands:read": frozenset({"admin", "manager", "user"}),
    "commands:write": frozenset({"admin", "manager"}),
    "deliveries:read": frozenset({"admin", "manager"}),
    "deliveries:retry": frozenset({"admin", "manager"}),
    "hooks:read": frozenset({"admin", "manager"}),  # outbound webhooks: attempts hold event payloads
    "hooks:write": frozenset({"admin", "manager"}),
    "keys:manage": frozenset({"admin"}),
    "agents:read": frozenset({"admin", "manager", "user"}),
    "agents:manage": frozenset({"admin"}),  # which agents run, how freely they act, and the tenant's budget
    "team:read": frozenset({"admin", "manager", "user"}),  # the tenant's members and usage (portal's Team page)
    "tenant:manage": frozenset({"admin"}),  # members' roles, invites, the business profile and onboarding
    "audit:read": frozenset({"admin"}),  # the audit log: approvals, keys, roles
}
ALL_PERMISSIONS = frozenset(PERMISSIONS) | {PUBLIC, OPERATOR}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str  # an API key id, a JWT `sub`, or "admin-token"
    tenant_id: str | None
    role: str | None
    operator: bool = False
    via: str = "api_key"  # api_key | jwt | admin_token

    @property
    def rate_key(self) -> str:
        return f"{self.via}:{self.subject}"


def allows(principal: Principal, permission: str) -> bool:
    if permission == PUBLIC:
        return True
    if permission == OPERATOR:
        return principal.operator
    return principal.tenant_id is not None and principal.role in PERMISSIONS[permission]

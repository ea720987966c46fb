-- People of a tenant (issue 12): an OIDC subject maps to a tenant and a role through `memberships`; an admin invites
-- people with one-time links (`invites`, the token stored hashed); what changed whom goes to `audit_log`; the
-- onboarding flow keeps the business profile and where the tenant stopped in `tenant_profiles`. All under row-level
-- security, like every tenant table.
CREATE TABLE memberships (
    tenant_id   text NOT NULL,
    subject     text NOT NULL,             -- the ID token's `sub` at the configured issuer
    name        text NOT NULL DEFAULT '',  -- for people: the token's name or email when it gave one
    role        text NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject)
);
CREATE INDEX memberships_subject ON memberships (subject, created_at);

CREATE TABLE invites (
    tenant_id    text NOT NULL,
    id           text NOT NULL,
    hash         text NOT NULL,             -- hex sha256 of the token in the link; the token itself is never stored
    role         text NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    note         text NOT NULL DEFAULT '',  -- who it is for, as the admin wrote it
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invites_hash ON invites (hash);

CREATE TABLE audit_log (
    tenant_id  text NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,               -- how the caller signed in and who: "oidc:alice", "api_key:key_…"
    action     text NOT NULL,               -- "key.created", "member.role_changed", "agent_run.approved" …
    target     text NOT NULL DEFAULT '',    -- what it was done to: a key id, a subject, a run id
    detail     jsonb NOT NULL DEFAULT '{}', -- never a secret
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tenant_profiles (
    tenant_id        text PRIMARY KEY,
    details          text NOT NULL DEFAULT '',
    industry         text NOT NULL DEFAULT '',
    goals            text[] NOT NULL DEFAULT '{}',
    providers        text[] NOT NULL DEFAULT '{}',  -- chosen at the "connect services" step
    personal_agent   boolean NOT NULL DEFAULT false,
    onboarding_step  text NOT NULL DEFAULT 'profile',  -- where the tenant stopped; 'done' when finished
    updated_at       timestamptz NOT NULL DEFAULT now()
);

SELECT enable_tenant_isolation(t)
FROM unnest(ARRAY['memberships', 'invites', 'audit_log', 'tenant_profiles']::regclass[]) AS t;

-- Signing in finds a person's tenant before any tenant is set. The gateway holds no owner DSN, so these functions
-- (run as the owner) answer exactly that: the tenants and roles of one subject; an invite's tenant, role and tenant
-- name for one exact token hash, while it is unused and unexpired. Nothing else crosses tenants.
CREATE FUNCTION membership_lookup(p_subject text)
RETURNS TABLE (tenant_id text, role text, name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.tenant_id, m.role, m.name FROM public.memberships m
    WHERE m.subject = p_subject ORDER BY m.created_at, m.tenant_id
$$;

CREATE FUNCTION invite_lookup(p_hash text)
RETURNS TABLE (tenant_id text, invite_id text, role text, tenant_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.tenant_id, i.id, i.role, t.name FROM public.invites i JOIN public.tenants t ON t.id = i.tenant_id
    WHERE i.hash = p_hash AND i.accepted_at IS NULL AND i.expires_at > now()
$$;

REVOKE EXECUTE ON FUNCTION membership_lookup(text), invite_lookup(text) FROM PUBLIC;

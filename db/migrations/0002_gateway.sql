-- The gateway: API keys, connector instances, webhook deliveries and commands. Tenant tables lead with tenant_id and
-- carry the same row-level security policy as 0001. Two lookups must happen before a request's tenant is known (an
-- API key by its hash, a webhook's connector by its id): they are SECURITY DEFINER functions that return only the
-- routing facts, never a row of another table (docs/decisions.md, "Lookups before the tenant is known").

CREATE TABLE api_keys (
    tenant_id   text NOT NULL,
    id          text NOT NULL,
    name        text NOT NULL DEFAULT '',
    prefix      text NOT NULL,            -- the first characters of the key, shown in lists
    hash        text NOT NULL,            -- hex sha256 of the whole key; the key itself is never stored
    role        text NOT NULL CHECK (role IN ('admin', 'manager', 'user')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- not unique: a unique index must include tenant_id to distribute by tenant; 256 random bits make clashes moot
CREATE INDEX api_keys_hash ON api_keys (hash);

CREATE TABLE connectors (
    tenant_id          text NOT NULL,
    id                 text NOT NULL,     -- unguessable: it is the webhook URL
    provider           text NOT NULL,
    name               text NOT NULL,
    config             jsonb NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active',
    secret_rotated_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX connectors_id ON connectors (id);
CREATE INDEX connectors_recent ON connectors (tenant_id, created_at DESC, id DESC);

-- Every accepted webhook delivery, one row per (connector, provider delivery id): a provider's retry of the same
-- delivery counts in `receipts`. Written by the `deliveries` consumer group from the gateway's delivery stream.
CREATE TABLE deliveries (
    tenant_id         text NOT NULL,
    id                text NOT NULL,      -- derived from (connector, delivery id)
    connector_id      text NOT NULL,
    provider          text NOT NULL,
    delivery_id       text NOT NULL,      -- the provider's, or a hash of the body
    topic             text NOT NULL DEFAULT '',
    content_type      text NOT NULL DEFAULT '',
    headers           jsonb NOT NULL DEFAULT '{}',  -- without credentials and signatures
    body              bytea NOT NULL,
    received_at       timestamptz NOT NULL,
    last_received_at  timestamptz NOT NULL,
    receipts          integer NOT NULL DEFAULT 1,
    outcome           text NOT NULL CHECK (outcome IN ('published', 'unmapped', 'handshake')),
    error             text,
    event_ids         text[] NOT NULL DEFAULT '{}',
    retries           integer NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX deliveries_recent ON deliveries (tenant_id, received_at DESC, id DESC);
CREATE INDEX deliveries_connector ON deliveries (tenant_id, connector_id, received_at DESC, id DESC);

CREATE TABLE commands (
    tenant_id     text NOT NULL,
    id            text NOT NULL,
    type          text NOT NULL,
    status        text NOT NULL CHECK (status IN ('accepted', 'running', 'completed', 'rejected', 'failed')),
    reason        text,
    connector_id  text,
    issued_by     text NOT NULL DEFAULT '',
    issued_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    body          jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX commands_recent ON commands (tenant_id, issued_at DESC, id DESC);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['api_keys', 'connectors', 'deliveries', 'commands']::regclass[]) AS t;

-- An API key's tenant, id and role by the hash of the key (revoked keys are not found). Runs as the owner, which
-- row-level security does not restrict; returns nothing but these three values for one exact hash.
CREATE FUNCTION api_key_lookup(key_hash text)
RETURNS TABLE (tenant_id text, key_id text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.tenant_id, k.id, k.role FROM public.api_keys k WHERE k.hash = key_hash AND k.revoked_at IS NULL
$$;

-- A webhook's tenant and provider by its connector id (active connectors only).
CREATE FUNCTION webhook_target(connector text)
RETURNS TABLE (tenant_id text, provider text, config jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.tenant_id, c.provider, c.config FROM public.connectors c WHERE c.id = connector AND c.status = 'active'
$$;

-- Only the service role may call the lookups (db/migrate.py grants it); nobody else needs to probe keys or connectors.
REVOKE EXECUTE ON FUNCTION api_key_lookup(text), webhook_target(text) FROM PUBLIC;

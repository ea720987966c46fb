-- Outbound webhooks (REST hooks; Zapier subscribes through them): a tenant's subscriptions and one attempt row per
-- subscription x event. The `outbound` consumer group inserts the rows; the dispatcher (`bizosaas worker`) delivers
-- them. Signing secrets live in Vault only (<prefix>/tenants/<tenant>/hooks/<hook>), never here.
CREATE TABLE hook_subscriptions (
    tenant_id            text NOT NULL,
    id                   text NOT NULL,            -- hook_<random>
    target_url           text NOT NULL,
    event_types          text[] NOT NULL,          -- published types or `domain.kind.*` patterns
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    consecutive_failures integer NOT NULL DEFAULT 0,  -- attempts failed since the last delivery
    failing_since        timestamptz,              -- the first of those failures
    paused_until         timestamptz,              -- per-endpoint back-off: nothing is sent before this
    last_delivered_at    timestamptz,
    secret_rotated_at    timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE hook_attempts (
    tenant_id         text NOT NULL,
    id                text NOT NULL,               -- att_<sortable id>
    hook_id           text NOT NULL,
    event_id          text NOT NULL,               -- also the webhook-id header: stable across retries
    event_type        text NOT NULL,
    body              text NOT NULL,               -- the payload exactly as signed and sent
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'gone')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),  -- while sending: the lease's end
    queued_at         timestamptz NOT NULL DEFAULT now(),  -- the retry horizon counts from here (retry resets it)
    last_status_code  integer,
    last_error        text,
    last_attempt_at   timestamptz,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, hook_id, event_id),
    FOREIGN KEY (tenant_id, hook_id) REFERENCES hook_subscriptions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX hook_attempts_due ON hook_attempts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX hook_attempts_log ON hook_attempts (tenant_id, hook_id, created_at DESC, id DESC);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['hook_subscriptions', 'hook_attempts']::regclass[]) AS t;

-- The tenants with attempts due now (their endpoint enabled and not backing off): the dispatcher then claims and records each tenant's attempts under row-level
-- security with that tenant set. Runs as the owner; returns tenant ids only, never a row's contents.
CREATE FUNCTION hook_tenants_due(max_tenants integer)
RETURNS TABLE (tenant_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT a.tenant_id FROM public.hook_attempts a
    JOIN public.hook_subscriptions s ON s.tenant_id = a.tenant_id AND s.id = a.hook_id
    WHERE a.status = 'pending' AND a.next_attempt_at <= now()
      AND s.enabled AND (s.paused_until IS NULL OR s.paused_until <= now())
    LIMIT max_tenants
$$;
REVOKE EXECUTE ON FUNCTION hook_tenants_due(integer) FROM PUBLIC;

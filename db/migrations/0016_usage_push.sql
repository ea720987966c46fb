-- The platform's own billing in Lago: which Lago subscription a tenant's usage is billed to (billing_accounts), and
-- which closed days of its usage_counts have been pushed there as usage events (usage_pushes, one row per
-- usage_counts row pushed, with the count sent). The push runs with the service role: `billed_tenants()` answers the
-- tenants it has to visit and nothing else (like 0002's lookups); each tenant's rows are read under its own tenant.
CREATE TABLE billing_accounts (
    tenant_id             text PRIMARY KEY,
    lago_subscription_id  text NOT NULL CHECK (lago_subscription_id <> ''),  -- Lago's external_subscription_id
    billed_from           date NOT NULL DEFAULT current_date,  -- usage of earlier days is not pushed
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE usage_pushes (
    tenant_id       text NOT NULL,
    day             date NOT NULL,
    event_type      text NOT NULL,
    provider        text NOT NULL,
    events          bigint NOT NULL,  -- the count sent (usage_counts.events at the time of the push)
    transaction_id  text NOT NULL,  -- Lago's idempotency key: tenant, day, event type, provider
    lago_id         text NOT NULL,  -- the event Lago recorded
    pushed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, event_type, provider)
);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['billing_accounts', 'usage_pushes']::regclass[]) AS t;

CREATE FUNCTION billed_tenants()
RETURNS TABLE (tenant_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT b.tenant_id FROM public.billing_accounts b ORDER BY b.tenant_id
$$;
REVOKE EXECUTE ON FUNCTION billed_tenants() FROM PUBLIC;

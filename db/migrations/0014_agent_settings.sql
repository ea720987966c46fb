-- Agents, per tenant: which catalog agents are enabled and how freely they act, and the tenant's budget.
-- A row missing means the defaults: disabled, the catalog's autonomy, approval always needed, the deployment's
-- budget (bizosaas/settings.py). Runs and their projection come with the run workflow.
CREATE TABLE agent_settings (
    tenant_id             text NOT NULL,
    agent_id              text NOT NULL,  -- an id of agents/catalog/*.toml
    enabled               boolean NOT NULL DEFAULT false,
    autonomy              text CHECK (autonomy IN ('suggest', 'act')),  -- null: the catalog entry's
    -- proposed actions that are on the platform's allow-list (moves no money, input caps) become commands at once
    act_without_approval  boolean NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id)
);

CREATE TABLE agent_limits (
    tenant_id            text PRIMARY KEY,
    daily_token_budget   bigint CHECK (daily_token_budget >= 0),  -- null: the deployment's default
    max_concurrent_runs  integer CHECK (max_concurrent_runs > 0),  -- null: the deployment's default
    updated_at           timestamptz NOT NULL DEFAULT now()
);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['agent_settings', 'agent_limits']::regclass[]) AS t;

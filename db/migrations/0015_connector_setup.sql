-- Connector set-up: which connectors' webhooks the set-up workflow registers at the provider (created without a
-- webhook secret for a provider whose provider.toml says `registration = "by_setup"`), the webhooks it registered
-- (their provider ids, so a disconnect unregisters them), and the set-up's outcome as the owner sees it (projected
-- by the projector from connector.connect.started / connector.connect.failed / connector.connected events).
ALTER TABLE connectors ADD COLUMN webhooks_by_setup boolean NOT NULL DEFAULT false;

CREATE TABLE connector_webhooks (
    tenant_id     text NOT NULL,
    connector_id  text NOT NULL,
    topic         text NOT NULL,  -- the provider's topic, or '*' for one endpoint carrying every topic (Stripe)
    webhook_id    text NOT NULL,  -- the provider's id of the webhook (what unregistering deletes)
    delivery_url  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connector_id, topic)
);

CREATE TABLE connector_setups (
    tenant_id      text NOT NULL,
    connector_id   text NOT NULL,
    status         text NOT NULL CHECK (status IN ('connecting', 'connected', 'failed')),
    step           text,  -- the failed step: test, sync, webhooks
    reason         text,  -- what a person should fix (failed), or why webhooks were not registered (connected)
    webhooks       integer NOT NULL DEFAULT 0,  -- registered by the set-up
    at             timestamptz NOT NULL,  -- the event's time: an older outcome never replaces a newer one
    PRIMARY KEY (tenant_id, connector_id)
);

SELECT enable_tenant_isolation(t)
FROM unnest(ARRAY['connector_webhooks', 'connector_setups']::regclass[]) AS t;

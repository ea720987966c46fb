-- The event backbone: the archive of every event, the projection of current entity state, each group's record of
-- what it processed, and exact per-tenant usage. Every tenant table leads its keys with tenant_id (Citus-ready) and
-- is guarded by row-level security on the per-transaction setting app.tenant_id.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every event, archived by the projector group so replay reaches past Redis retention.
CREATE TABLE event_log (
    tenant_id     text NOT NULL,
    id            text NOT NULL,
    type          text NOT NULL,
    source        text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    stream        text NOT NULL,          -- the partition stream it was published to
    stream_ms     bigint NOT NULL,        -- its entry id there: the tie-break of the ordering rule
    stream_seq    bigint NOT NULL,
    body          text NOT NULL,          -- the event's JSON as published (old versions stay old; readers upcast)
    archived_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX event_log_position ON event_log (stream, stream_ms, stream_seq);

-- Current state per entity. An older event never overwrites a newer state: (updated_at, stream_ms, stream_seq)
-- only grows. Deletes are tombstones (deleted = true).
CREATE TABLE records (
    tenant_id     text NOT NULL,
    kind          text NOT NULL,
    source        text NOT NULL,
    external_id   text NOT NULL,
    id            text NOT NULL,          -- opaque, derived from the natural key: stable across rebuilds
    provider      text NOT NULL DEFAULT '',
    status        text,
    title         text,
    amount_minor  bigint,
    currency      text,
    updated_at    timestamptz NOT NULL,   -- provider time of this state
    recorded_at   timestamptz NOT NULL,
    deleted       boolean NOT NULL DEFAULT false,
    data          jsonb NOT NULL,
    event_id      text NOT NULL,
    stream_ms     bigint NOT NULL,
    stream_seq    bigint NOT NULL,
    PRIMARY KEY (tenant_id, kind, source, external_id)
);
CREATE UNIQUE INDEX records_id ON records (tenant_id, id);
CREATE INDEX records_recent ON records (tenant_id, kind, updated_at DESC, id DESC);

-- What a consumer group has processed, written in the same transaction as its effect (at-least-once -> once).
CREATE TABLE group_inbox (
    tenant_id     text NOT NULL,
    group_name    text NOT NULL,
    event_id      text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_name, event_id)
);

-- Exact per-tenant usage for billing (Prometheus counters carry no tenant and may count twice).
CREATE TABLE usage_counts (
    tenant_id   text NOT NULL,
    day         date NOT NULL,
    event_type  text NOT NULL,
    provider    text NOT NULL,
    events      bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, event_type, provider)
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('app.tenant_id', true))
    WITH CHECK (id = current_setting('app.tenant_id', true));

-- Row-level security for a tenant table: rows are visible and writable only under their tenant's setting.
-- Later migrations call it for every table that leads with tenant_id.
CREATE FUNCTION enable_tenant_isolation(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id = current_setting('app.tenant_id', true))
        WITH CHECK (tenant_id = current_setting('app.tenant_id', true))$p$, tbl);
END $$;
REVOKE EXECUTE ON FUNCTION enable_tenant_isolation(regclass) FROM PUBLIC;

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['event_log', 'records', 'group_inbox', 'usage_counts']::regclass[]) AS t;

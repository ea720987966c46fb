-- Connector operations: the history of sync runs (projected by the projector from connector.sync.* events), the
-- counts a run keeps while it runs, each connector's sync schedule as the command runner last applied it to
-- Temporal, and a command's result (a connector action's answer).
CREATE TABLE sync_runs (
    tenant_id     text NOT NULL,
    run_id        text NOT NULL,
    connector_id  text NOT NULL,
    resource      text NOT NULL,
    full_run      boolean NOT NULL DEFAULT false,
    status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    started_at    timestamptz,
    finished_at   timestamptz,
    records       integer NOT NULL DEFAULT 0,
    added         integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    deleted       integer NOT NULL DEFAULT 0,
    error         text,
    retryable     boolean,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX sync_runs_recent ON sync_runs (tenant_id, connector_id, started_at DESC, run_id DESC);

ALTER TABLE sync_checkpoints ADD COLUMN run_added integer NOT NULL DEFAULT 0,
                             ADD COLUMN run_updated integer NOT NULL DEFAULT 0;

CREATE TABLE connector_schedules (
    tenant_id     text NOT NULL,
    connector_id  text NOT NULL,
    interval_s    integer NOT NULL CHECK (interval_s > 0),
    paused        boolean NOT NULL DEFAULT false,
    offset_s      integer NOT NULL DEFAULT 0,  -- the interval's phase (spreads connectors over the interval)
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connector_id)
);

ALTER TABLE commands ADD COLUMN result jsonb;

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['sync_runs', 'connector_schedules']::regclass[]) AS t;

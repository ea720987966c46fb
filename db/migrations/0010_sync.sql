-- Syncs (connectors/sync.py): per tenant x connector x resource, the committed checkpoint (the greatest
-- modification time a finished run saw) and the run in progress (its fixed window and the pages done, so a run
-- resumes where it stopped); and the ids a full run has seen, for deletion detection once it finished without error.
CREATE TABLE sync_checkpoints (
    tenant_id      text NOT NULL,
    connector_id   text NOT NULL,
    resource       text NOT NULL,
    cursor         text,                  -- committed: what the next incremental run reads after
    run_id         text,                  -- the run in progress; NULL when none
    run_full       boolean NOT NULL DEFAULT false,
    run_since      text,                  -- the run's window, fixed at its start
    run_until      text,
    run_pages      integer NOT NULL DEFAULT 0,  -- pages done (the next is run_pages + 1)
    run_total      integer,               -- the listing's size at the first page (a change means pages shifted)
    run_cursor     text,                  -- the greatest cursor seen by the run
    run_records    integer NOT NULL DEFAULT 0,
    run_started_at timestamptz,
    last_status    text CHECK (last_status IN ('completed', 'failed')),
    last_error     text,
    last_run_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connector_id, resource)
);

CREATE TABLE sync_seen (
    tenant_id     text NOT NULL,
    connector_id  text NOT NULL,
    resource      text NOT NULL,
    run_id        text NOT NULL,
    external_id   text NOT NULL,
    PRIMARY KEY (tenant_id, connector_id, resource, run_id, external_id)
);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['sync_checkpoints', 'sync_seen']::regclass[]) AS t;

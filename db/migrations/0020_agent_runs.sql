-- Agent runs as the API shows them (GET /v1/agent-runs): one row per run, kept by the projector from the
-- agent.run.* events (consumers/agent_runs.py) and rebuilt from event_log with the records. A row's status only moves
-- forward (status_rank, then the time of the event that set it), so a late or redelivered event never regresses it.
CREATE TABLE agent_runs (
    tenant_id           text NOT NULL,
    run_id              text NOT NULL,
    agent               text NOT NULL,        -- an id of agents/catalog
    status              text NOT NULL CHECK (status IN ('started', 'deferred', 'awaiting_approval', 'completed',
                                                        'failed')),
    status_rank         smallint NOT NULL,    -- deferred/started 1, awaiting_approval 2, completed/failed 3
    status_at           timestamptz NOT NULL, -- provider time (occurred_at) of the event that set the status
    source              text NOT NULL DEFAULT '',  -- the connector the trigger came from, or "agents"
    trigger_id          text NOT NULL DEFAULT '',  -- the event that woke the agent, or the command that asked
    triggers            integer NOT NULL DEFAULT 1,  -- triggers folded into this run by the coalescing window
    subject_kind        text NOT NULL DEFAULT '',  -- the record the run is about (from the started event)
    subject_external_id text NOT NULL DEFAULT '',
    inputs              jsonb NOT NULL DEFAULT '{}',
    output              jsonb,
    actions             jsonb NOT NULL DEFAULT '[]',  -- proposed actions {action, input, reason}
    citations           jsonb NOT NULL DEFAULT '[]',
    decision            text NOT NULL DEFAULT '',  -- approved, rejected, expired, auto, or '' (nothing to approve)
    commands            jsonb NOT NULL DEFAULT '[]',  -- ids of the commands the approved actions became
    tokens_in           bigint NOT NULL DEFAULT 0,
    tokens_out          bigint NOT NULL DEFAULT 0,
    cost_micro_usd      bigint NOT NULL DEFAULT 0,
    latency_ms          bigint NOT NULL DEFAULT 0,
    error               text,
    reason              text,                 -- why it was deferred
    expires_at          timestamptz,          -- when an approval it waits for expires
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id)
);
-- the list: newest first, by agent or status
CREATE INDEX agent_runs_list ON agent_runs (tenant_id, (coalesce(started_at, status_at)) DESC, run_id DESC);

SELECT enable_tenant_isolation('agent_runs');

-- Agent runs' own bookkeeping (the run workflow's activities write it; the agent_runs projection is built from the
-- agent.run.* events elsewhere). One row per admitted run: it holds a concurrency slot from admission until the crew
-- finished (released_at), and the tokens it used count against the tenant's budget of that UTC day.
CREATE TABLE agent_run_usage (
    tenant_id    text NOT NULL,
    run_id       text NOT NULL,
    agent_id     text NOT NULL,
    day          date NOT NULL DEFAULT (now() AT TIME ZONE 'utc')::date,
    admitted_at  timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz,
    tokens       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX agent_run_usage_day ON agent_run_usage (tenant_id, day);

-- What a run did, step by step: its tool calls (input, output, time), the model's raw answers, tokens per attempt.
CREATE TABLE agent_run_traces (
    tenant_id   text NOT NULL,
    run_id      text NOT NULL,
    agent_id    text NOT NULL,
    trace       jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id)
);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['agent_run_usage', 'agent_run_traces']::regclass[]) AS t;

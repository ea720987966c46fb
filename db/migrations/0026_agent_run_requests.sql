-- The agents group's outbox: a run asked for by a trigger that held, written in the group's batch transaction beside
-- its inbox rows (so a trigger is never lost, and a stream handler never waits for Temporal). The run starter in
-- `bizosaas worker` (consumers/agent_starts.py) hands each row to the run workflow (request_run) and deletes it once
-- Temporal accepted it. One row per agent x subject per batch: the batch's triggers of one coalescing key folded.
CREATE TABLE agent_run_requests (
    tenant_id           text NOT NULL,
    id                  text NOT NULL,                 -- arq_<sortable id>
    coalescing_key      text NOT NULL,                 -- agents/runs.py coalescing_key: one run workflow per key
    agent_id            text NOT NULL,
    subject_kind        text NOT NULL DEFAULT '',
    subject_external_id text NOT NULL DEFAULT '',
    source              text NOT NULL DEFAULT '',
    trigger_ids         text[] NOT NULL,               -- the events folded into this request, in stream order
    triggers            integer GENERATED ALWAYS AS (cardinality(trigger_ids)) STORED,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),  -- while being handed over: the lease's end
    last_error          text,
    queued_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX agent_run_requests_due ON agent_run_requests (next_attempt_at);

SELECT enable_tenant_isolation('agent_run_requests');

-- The tenants with run requests due now: the starter then claims each tenant's rows under row-level security with
-- that tenant set. Runs as the owner; returns tenant ids only, never a row's contents.
CREATE FUNCTION agent_run_tenants_due(max_tenants integer)
RETURNS TABLE (tenant_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT r.tenant_id FROM public.agent_run_requests r WHERE r.next_attempt_at <= now() LIMIT max_tenants
$$;
REVOKE EXECUTE ON FUNCTION agent_run_tenants_due(integer) FROM PUBLIC;

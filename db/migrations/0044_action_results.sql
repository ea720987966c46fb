-- What a connector action answered, kept under the id of the workflow that ran it (`action:{command}`), so an activity
-- retried after the provider did the work (the worker died, or its answer never reached Temporal) answers the kept
-- result instead of doing the work again: a second email, a second card, a second message. Written in the activity
-- right after the provider answers; docs/decisions.md, "An action is performed once per workflow".
CREATE TABLE action_results (
    tenant_id    text NOT NULL,
    workflow_id  text NOT NULL,
    action       text NOT NULL,
    result       jsonb NOT NULL,  -- ids and the values the action set (what the workflow history holds), no secret
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow_id)
);

SELECT enable_tenant_isolation('action_results');

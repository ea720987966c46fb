-- The attempt log's retention: delivered and failed attempts older than BIZOSAAS_OUTBOUND_LOG_RETENTION_S are
-- deleted by the dispatcher (consumers/outbound_claims.py, prune_attempt_log). Attempt ids sort by creation time, so
-- "created before the cutoff" is `id < before_id` (the caller encodes the cutoff as an id), a range of each
-- subscription's primary key (tenant, hook, id): no index of its own. Pending attempts are never deleted here.
-- Runs as the owner across tenants like hook_tenants_due, and answers only how many rows went.
CREATE FUNCTION prune_hook_attempts(before_id text, max_rows integer)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH doomed AS (
        SELECT old.tenant_id, old.hook_id, old.id FROM public.hook_subscriptions s
        CROSS JOIN LATERAL (
            SELECT a.tenant_id, a.hook_id, a.id FROM public.hook_attempts a
            WHERE a.tenant_id = s.tenant_id AND a.hook_id = s.id AND a.id < before_id
              AND a.status IN ('delivered', 'failed')
            LIMIT max_rows
        ) old
        LIMIT max_rows
    ), gone AS (
        DELETE FROM public.hook_attempts a USING doomed d
        WHERE a.tenant_id = d.tenant_id AND a.hook_id = d.hook_id AND a.id = d.id
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
REVOKE EXECUTE ON FUNCTION prune_hook_attempts(text, integer) FROM PUBLIC;

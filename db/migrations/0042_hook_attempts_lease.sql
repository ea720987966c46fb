-- The dispatcher's lease gets its own column, which no index holds. Before, a claim moved next_attempt_at (the due
-- indexes' key) to the lease's end, so every claim wrote a new row version plus an entry in each of the table's five
-- indexes; a claim now changes only unindexed columns, which Postgres writes as a heap-only (HOT) update: no index
-- entry. fillfactor leaves room on each page for that version (HOT needs the same page). next_attempt_at is now only
-- "due at"; an attempt is claimable when it is due and its lease (if any) has ended. docs/decisions.md, "Outbound:
-- the lease in its own column".
ALTER TABLE hook_attempts ADD COLUMN leased_until timestamptz;
ALTER TABLE hook_attempts SET (fillfactor = 50);

-- The global due index served only hook_tenants_due, which now walks the enabled subscriptions and asks the per-hook
-- due index (0037) of each: one index entry fewer per attempt written.
DROP INDEX hook_attempts_due;

CREATE OR REPLACE FUNCTION hook_tenants_due(max_tenants integer)
RETURNS TABLE (tenant_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.tenant_id FROM public.hook_subscriptions s
    WHERE s.enabled AND (s.paused_until IS NULL OR s.paused_until <= now())
      AND EXISTS (
        SELECT 1 FROM public.hook_attempts a
        WHERE a.tenant_id = s.tenant_id AND a.hook_id = s.id AND a.status = 'pending' AND a.next_attempt_at <= now()
          AND (a.leased_until IS NULL OR a.leased_until <= now())
      )
    GROUP BY s.tenant_id
    LIMIT max_tenants
$$;


-- The attempt log (GET /v1/hooks/{id}/attempts, newest first) had an index of its own on (tenant, hook, created_at,
-- id). Attempt ids sort by creation time (events/ids.py), so a primary key of (tenant, hook, id) is that order too:
-- one index fewer to write per attempt inserted and per attempt delivered. Every lookup by id names the hook.
ALTER TABLE hook_attempts DROP CONSTRAINT hook_attempts_pkey, ADD PRIMARY KEY (tenant_id, hook_id, id);
DROP INDEX hook_attempts_log;
